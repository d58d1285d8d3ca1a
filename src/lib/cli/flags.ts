import {Flags} from '@oclif/core'

/** Flags shared by many commands; defined once so help text and env vars stay consistent. */
export const profileFlag = Flags.string({
  description: 'Profile to use (default: the current profile).',
  env: 'MEDCTL_PROFILE',
  helpGroup: 'GLOBAL',
})

export const yesFlag = Flags.boolean({description: 'Answer yes to the confirmation (required without a terminal).', default: false})
