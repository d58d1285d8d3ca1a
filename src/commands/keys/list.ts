import {BaseCommand} from '../../lib/cli/base-command.js'
import {renderTable} from '../../lib/cli/output.js'
import {Keystore, type IdentityInfo} from '../../lib/config/keystore.js'
import {ProfileStore} from '../../lib/config/profiles.js'

export default class KeysList extends BaseCommand<typeof KeysList> {
  static override summary = 'List the identities in this home (public parts only).'
  static override description = `Exit codes: 0 ok, 1 failure (E_CORRUPT_CONFIG, E_CORRUPT_KEYSTORE: a damaged file, named).`
  static override examples = ['<%= config.bin %> keys list', '<%= config.bin %> keys list --json | jq -r ".result.identities[].address"']

  async run(): Promise<{identities: Array<IdentityInfo & {profiles: string[]}>}> {
    const profiles = new ProfileStore(this.paths).list()
    const identities = new Keystore(this.paths)
      .list()
      .map((info) => ({...info, profiles: profiles.filter((p) => p.identity === info.name).map((p) => p.name)}))
    this.log(
      renderTable(
        ['name', 'address', 'age recipient', 'pseudonym key', 'profiles'],
        identities.map((i) => [i.name, i.address, i.recipient, i.hasPseudonymKey ? 'yes' : 'no', i.profiles.join(', ')]),
      ),
    )
    return {identities}
  }
}
