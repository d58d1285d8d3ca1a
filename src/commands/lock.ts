import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/cli/base-command.js'
import {profileFlag} from '../lib/cli/flags.js'
import {renderFields} from '../lib/cli/output.js'
import {lockSessions, type LockResult} from '../lib/session/agent.js'

export default class Lock extends BaseCommand<typeof Lock> {
  static override summary = 'End the unlocked session of the profile (or of every profile with --all): the passphrase is needed again.'
  static override description = `Tells the profile's agent (started by \`medctl unlock\`) to drop its keys and exit, and waits until its socket is gone. A socket left by an agent that died is removed. Locking a profile that is not unlocked is not an error.

Exit codes: 0 ok, 1 failure (E_AGENT_UNSAFE: the agent directory is not private to you), 2 usage error (no such profile).`

  static override examples = ['<%= config.bin %> lock', '<%= config.bin %> lock --all --json | jq .result.locked']

  static override flags = {
    profile: profileFlag,
    all: Flags.boolean({description: 'End the unlocked sessions of every profile of this home.', default: false}),
  }

  static override writesHome = false

  async run(): Promise<LockResult> {
    const result = await lockSessions(this.paths, this.flags.all ? {all: true} : {profile: this.flags.profile})
    this.log(
      renderFields({
        locked: result.locked.join(', ') || '(nothing was unlocked)',
        ...(result.cleaned.length > 0 ? {'removed stale socket of': result.cleaned.join(', ')} : {}),
      }),
    )
    return result
  }
}
