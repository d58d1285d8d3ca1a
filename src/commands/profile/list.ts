import {BaseCommand} from '../../lib/cli/base-command.js'
import {renderTable} from '../../lib/cli/output.js'
import {Keystore} from '../../lib/config/keystore.js'
import {ProfileStore} from '../../lib/config/profiles.js'
import {summarizeProfile, type ProfileSummary} from '../../lib/session/session.js'

export default class ProfileList extends BaseCommand<typeof ProfileList> {
  static override summary = 'List the profiles; the current one is marked.'
  static override description = `Exit codes: 0 ok, 1 failure (E_CORRUPT_CONFIG: profiles.json is damaged, named).`
  static override examples = ['<%= config.bin %> profile list', '<%= config.bin %> profile list --json | jq -r ".result.profiles[].name"']

  async run(): Promise<{profiles: ProfileSummary[]}> {
    const profiles = new ProfileStore(this.paths)
    const keystore = new Keystore(this.paths)
    const summaries = await Promise.all(
      profiles.list().map((p) => summarizeProfile(this.paths, profiles, keystore, p, p.chain.rpcUrl ?? null)),
    )
    if (summaries.length === 0) this.note('No profiles yet: run `medctl init`.')
    else
      this.log(
        renderTable(
          ['', 'name', 'role', 'address', 'chain', 'store'],
          summaries.map((s) => [
            s.current ? '*' : '',
            s.name,
            s.role,
            s.address,
            `${s.chain.chainId}${s.chain.embedded ? ' (embedded)' : ''}`,
            s.store.type,
          ]),
        ),
      )
    return {profiles: summaries}
  }
}
