import {Flags} from '@oclif/core'

/** Flags shared by many commands; defined once so help text and env vars stay consistent. */
export const profileFlag = Flags.string({
  description: 'Profile to use (default: the current profile).',
  env: 'MEDCTL_PROFILE',
  helpGroup: 'GLOBAL',
})

export const yesFlag = Flags.boolean({description: 'Answer yes to the confirmation (required without a terminal).', default: false})

/** Chain commands: how long one JSON-RPC request may take before E_RPC_UNAVAILABLE. */
export const rpcTimeoutFlag = Flags.integer({
  description: 'Milliseconds one JSON-RPC request may take before the command fails with E_RPC_UNAVAILABLE.',
  env: 'MEDCTL_RPC_TIMEOUT',
  min: 100,
  helpGroup: 'GLOBAL',
})

/** Event scans: the widest block range of one eth_getLogs request (real providers cap it). */
export const logRangeFlag = Flags.integer({
  description: 'Blocks per eth_getLogs request when scanning events (providers cap the range).',
  env: 'MEDCTL_LOG_RANGE',
  default: 5000,
  min: 1,
})
