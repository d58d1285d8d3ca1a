import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {yesFlag} from '../../lib/cli/flags.js'
import {Keystore} from '../../lib/config/keystore.js'
import {ProfileStore} from '../../lib/config/profiles.js'
import {lockSessions} from '../../lib/session/agent.js'

export default class ProfileDelete extends BaseCommand<typeof ProfileDelete> {
  static override summary = "Delete a profile (and, with --keys, its identity's key files)."
  static override description = `Without a terminal, --yes is required. The identity's keys are kept unless --keys is given and no other profile uses them. An unlocked session of the profile (\`medctl unlock\`) is ended first.

Exit codes: 0 ok, 1 another command is writing to the home (E_BUSY), 2 no such profile or confirmation missing, 130 cancelled.`

  static override examples = ['<%= config.bin %> profile delete clinic --yes', '<%= config.bin %> profile delete lab --yes --keys --json']
  static override flags = {yes: yesFlag, keys: Flags.boolean({description: "Also delete the identity's key files.", default: false})}
  static override args = {name: Args.string({description: 'Profile name.', required: true})}

  async run(): Promise<{deleted: string; keysDeleted: boolean; current: string | null}> {
    const profiles = new ProfileStore(this.paths)
    const profile = profiles.get(this.args.name)
    await this.confirm(`Delete profile "${profile.name}"${this.flags.keys ? ' and its keys' : ''}?`, this.flags.yes)
    const wasCurrent = profiles.currentName() === profile.name
    // A deleted profile leaves no agent holding its keys.
    const {locked} = await lockSessions(this.paths, {profile: profile.name})
    if (locked.length > 0) this.note(`Ended the unlocked session of profile "${profile.name}".`)
    profiles.delete(profile.name)
    const stillUsed = profiles.list().some((p) => p.identity === profile.identity)
    const keysDeleted = this.flags.keys && !stillUsed
    if (keysDeleted) new Keystore(this.paths).remove(profile.identity)
    if (this.flags.keys && stillUsed) this.warn(`Identity "${profile.identity}" is used by another profile; its keys were kept.`)
    const current = profiles.currentName() ?? null
    this.log(`Deleted profile "${profile.name}".`)
    if (wasCurrent)
      this.warn(
        current
          ? `It was the current profile: the current profile is now "${current}".`
          : 'It was the current profile: no profile is current now; choose one with `medctl profile use NAME`.',
      )
    return {deleted: profile.name, keysDeleted, current}
  }
}
