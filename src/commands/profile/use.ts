import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ProfileStore} from '../../lib/config/profiles.js'

export default class ProfileUse extends BaseCommand<typeof ProfileUse> {
  static override summary = 'Make a profile the current one.'
  static override description = `Exit codes: 0 ok, 1 another command is writing to the home (E_BUSY) or profiles.json is damaged (E_CORRUPT_CONFIG), 2 no such profile.`
  static override examples = ['<%= config.bin %> profile use clinic', '<%= config.bin %> profile use local --json']
  static override args = {name: Args.string({description: 'Profile name.', required: true})}

  async run(): Promise<{current: string}> {
    const profile = new ProfileStore(this.paths).use(this.args.name)
    this.log(`Now using profile "${profile.name}".`)
    return {current: profile.name}
  }
}
