import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {reviewEmergencyAccess} from '../../lib/consent/actions.js'

export default class ConsentReview extends BaseCommand<typeof ConsentReview> {
  static override summary = 'Record the review of a break-glass access: justified (--approve) or not (--reject).'
  static override description = `Needs the CUSTODIAN role. The review is recorded on chain and in the audit log.

Exit codes: 0 ok, 1 failure, 2 unknown access or usage error.`

  static override examples = [
    '<%= config.bin %> consent review 0xACCESS… --approve',
    '<%= config.bin %> consent review 0xACCESS… --reject --json',
  ]
  static override flags = {
    profile: profileFlag,
    approve: Flags.boolean({description: 'The access was justified.', exclusive: ['reject']}),
    reject: Flags.boolean({description: 'The access was not justified.', exclusive: ['approve']}),
  }

  static override args = {accessId: Args.string({description: 'The access id printed by `consent break-glass`.', required: true})}

  async run(): Promise<{accessId: string; approved: boolean; txHash: string}> {
    if (!this.flags.approve && !this.flags.reject) throw usageError('E_USAGE', 'Say --approve or --reject.')
    if (!/^0x[0-9a-fA-F]{64}$/.test(this.args.accessId))
      throw usageError('E_BAD_ACCESS_ID', 'An access id is 0x followed by 64 hex digits.')
    const session = this.openSession(this.flags.profile)
    const result = await reviewEmergencyAccess(session, {accessId: this.args.accessId, approved: Boolean(this.flags.approve)})
    this.log(`Access ${this.args.accessId} reviewed: ${result.approved ? 'justified' : 'not justified'}.`)
    return result
  }
}
