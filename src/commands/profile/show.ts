import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {runningNode} from '../../lib/chain/local-node.js'
import {summarizeProfile, type ProfileSummary} from '../../lib/session/session.js'
import {agentStatus} from '../../lib/session/agent.js'

export type ProfileShowResult = ProfileSummary & {
  /** Whether the profile has an unlocked session (`medctl unlock`), and until when. */
  session: {unlocked: boolean; deadline: string | null}
}

export default class ProfileShow extends BaseCommand<typeof ProfileShow> {
  static override summary = 'Show a profile: address, age recipient, chain, content store and network (never a secret).'
  static override description = `A profile that joined a custodian's network (\`medctl init --join\`) names it: network name, chain id, registry and custodian, as checked on chain when it joined.

It also says whether the profile is unlocked (\`medctl unlock\`) and until when.

Exit codes: 0 ok, 1 failure (E_CORRUPT_CONFIG, E_CORRUPT_KEYSTORE), 2 no such profile.`
  static override examples = ['<%= config.bin %> profile show', '<%= config.bin %> profile show clinic --json']
  static override flags = {profile: profileFlag}
  static override args = {name: Args.string({description: 'Profile name (default: --profile, else the current profile).'})}

  async run(): Promise<ProfileShowResult> {
    const session = this.openSession(this.args.name ?? this.flags.profile)
    const {profile} = session
    const rpcUrl = profile.chain.embedded ? ((await runningNode(this.paths))?.rpcUrl ?? null) : (profile.chain.rpcUrl ?? null)
    const summary = await summarizeProfile(this.paths, session.profiles, session.keystore, profile, rpcUrl)
    const agent = await agentStatus(this.paths, profile.name)
    const {network} = summary
    const networkLine = network
      ? `${network.name ?? '(unnamed)'}: chain ${network.chainId}, registry ${network.registry}, custodian ${network.custodian}`
      : null
    const unlocked = agent.unlocked ? `until ${agent.deadline}` : 'no'
    this.log(renderFields({...summary, chain: summary.chain, store: summary.store, network: networkLine, unlocked}))
    return {...summary, session: {unlocked: agent.unlocked, deadline: agent.deadline}}
  }
}
