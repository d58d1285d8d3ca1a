import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import type {IdentityInfo} from '../../lib/config/keystore.js'

export default class KeysShow extends BaseCommand<typeof KeysShow> {
  static override summary = "Show the public keys of the profile's identity: address and age recipient."
  static override description = `Never shows a private key (see \`keys export\`).

Exit codes: 0 ok, 1 damaged profiles.json or identity.json (E_CORRUPT_CONFIG, E_CORRUPT_KEYSTORE), 2 no such profile or identity.`

  static override examples = [
    '<%= config.bin %> keys show',
    '<%= config.bin %> keys show --profile clinic --json | jq -r .result.recipient',
  ]
  static override flags = {profile: profileFlag}

  async run(): Promise<IdentityInfo & {profile: string}> {
    const session = this.openSession(this.flags.profile)
    const result = {profile: session.profile.name, ...session.identity()}
    this.log(renderFields(result))
    return result
  }
}
