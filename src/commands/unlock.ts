import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/cli/base-command.js'
import {profileFlag} from '../lib/cli/flags.js'
import {renderFields} from '../lib/cli/output.js'
import {
  DEFAULT_UNLOCK_MS,
  agentStatus,
  parseUnlockDuration,
  unlockSession,
  type AgentState,
  type UnlockResult,
} from '../lib/session/agent.js'

export default class Unlock extends BaseCommand<typeof Unlock> {
  static override summary = "Unlock the profile's identity for a while, so commands need no passphrase (an agent, like ssh-agent)."
  static override description = `Asks for the passphrase once (or reads MEDCTL_PASSPHRASE / --passphrase-file), checks it by decrypting the profile's identity, and starts a small background agent that keeps the decrypted keys (wallet key, age identity, pseudonym key) in memory for --for (default 15m, at most 12h). Every medctl command of this profile then takes its keys from the agent instead of deriving them from the passphrase; without an agent they ask for the passphrase as before.

The agent listens on a Unix socket in the home (agent/PROFILE.sock, mode 0600, in a 0700 directory): only your own processes (and root) can reach it. It hands the keys to commands that ask for its profile and refuses any other. It never writes a key to disk and exits on its deadline, on \`medctl lock\`, or when its socket is removed. Unlocking a profile that is already unlocked replaces its agent (a new deadline). --status reports whether the profile is unlocked and until when, without a passphrase.

Exit codes: 0 ok (with --status: unlocked or not), 1 failure (E_BAD_PASSPHRASE, E_AGENT_START, E_AGENT_UNSAFE), 2 usage error (E_BAD_DURATION, no passphrase and no terminal, no such profile).`

  static override examples = [
    '<%= config.bin %> unlock',
    '<%= config.bin %> unlock --for 2h --profile clinic',
    'MEDCTL_PASSPHRASE_FILE=pass.txt <%= config.bin %> unlock --for 30m --json | jq -r .result.deadline',
    '<%= config.bin %> unlock --status --json',
  ]

  static override flags = {
    profile: profileFlag,
    for: Flags.string({
      description: 'How long the session stays unlocked: 90s, 15m, 2h, 1h30m (1s to 12h; default 15m).',
      env: 'MEDCTL_UNLOCK_FOR',
    }),
    status: Flags.boolean({
      description: 'Only report whether the profile is unlocked, and until when (--for is then ignored).',
      default: false,
    }),
  }

  /** It starts a process and writes only the agent's socket: it does not hold the home's writer lock. */
  static override writesHome = false

  async run(): Promise<UnlockResult | AgentState> {
    if (this.flags.status) {
      const state = await agentStatus(this.paths, this.flags.profile)
      this.log(
        renderFields(
          state.unlocked
            ? {profile: state.profile, unlocked: 'yes', until: state.deadline, socket: state.socket}
            : {profile: state.profile, unlocked: 'no'},
        ),
      )
      return state
    }
    const forMs = this.flags.for === undefined ? DEFAULT_UNLOCK_MS : parseUnlockDuration(this.flags.for)
    const result = await unlockSession(this.paths, this.flags.profile, () => this.passphrase(), {forMs})
    this.log(
      renderFields({
        profile: result.profile,
        address: result.address,
        until: result.deadline,
        socket: result.socket,
        agent: `pid ${result.pid}`,
      }),
    )
    this.note(`Unlocked until ${result.deadline}; \`medctl lock\` ends it sooner.`)
    return result
  }
}
