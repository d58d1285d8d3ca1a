import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {ProfileStore, SETTABLE_KEYS} from '../../lib/config/profiles.js'

export default class ProfileSet extends BaseCommand<typeof ProfileSet> {
  static override summary = 'Change one setting of a profile.'
  static override description = `Settings: ${SETTABLE_KEYS.join(', ')}.

Exit codes: 0 ok, 1 another command is writing to the home (E_BUSY) or profiles.json is damaged (E_CORRUPT_CONFIG), 2 unknown setting, bad value or no such profile.`

  static override examples = [
    '<%= config.bin %> profile set store.url http://127.0.0.1:5001',
    '<%= config.bin %> profile set chain.registry 0x5FbDB2315678afecb367f032d93F642f64180aa3 --profile clinic --json',
  ]

  static override flags = {profile: profileFlag}
  static override args = {
    key: Args.string({description: 'Setting name.', required: true, options: SETTABLE_KEYS}),
    value: Args.string({description: 'New value.', required: true}),
  }

  async run(): Promise<{profile: string; key: string; value: string}> {
    const profiles = new ProfileStore(this.paths)
    const profile = profiles.resolve(this.flags.profile)
    profiles.set(profile.name, this.args.key, this.args.value)
    this.log(`${profile.name}: ${this.args.key} = ${this.args.value}`)
    return {profile: profile.name, key: this.args.key, value: this.args.value}
  }
}
