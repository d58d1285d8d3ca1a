import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {anchorOnRequest, type AnchorReport} from '../../lib/audit/record.js'

export default class AuditAnchor extends BaseCommand<typeof AuditAnchor> {
  static override summary = "Sign the audit log's current tree head with the custodian key and anchor it on chain."
  static override description = `The head (size, Merkle root, hash of the last entry, time) is signed (EIP-191) by the custodian's key, anchored in the ConsentRegistry and kept in audit/heads.ndjson.

The log also anchors itself, after any command that writes to it, when the anchoring policy says so: after every N entries no anchor covers (profile setting audit.anchorEvery, or MEDCTL_AUDIT_ANCHOR_EVERY; default 100) or once T minutes have passed since the last anchor with entries waiting (audit.anchorMinutes, or MEDCTL_AUDIT_ANCHOR_MINUTES; default 0, off). --if-due applies that policy here, for a timer or cron job: it anchors only when one of the two rules is met.

Exit codes: 0 ok (also when --if-due found nothing due), 1 failure, 2 empty log or no registry, 4 the log is damaged (torn).`

  static override examples = [
    '<%= config.bin %> audit anchor',
    '<%= config.bin %> audit anchor --json | jq .result.txHash',
    '<%= config.bin %> audit anchor --if-due   # from cron, with `profile set audit.anchorMinutes 10`',
  ]

  static override flags = {
    profile: profileFlag,
    'if-due': Flags.boolean({
      description: 'Anchor only when the anchoring policy (audit.anchorEvery / audit.anchorMinutes) says it is due.',
    }),
  }

  async run(): Promise<AnchorReport> {
    const result = await anchorOnRequest(this.openSession(this.flags.profile), {ifDue: this.flags['if-due']})
    if (!result.anchored) {
      this.log(
        renderFields({
          anchored: false,
          unanchored: result.unanchored,
          policy: `every ${result.policy.every} entries${result.policy.minutes ? ` or ${result.policy.minutes} minutes` : ''}: not due`,
        }),
      )
      return result
    }
    this.log(
      renderFields({
        size: result.size,
        root: result.root,
        tx: result.txHash,
        block: result.blockNumber,
        ...(result.alreadyAnchored ? {note: 'already anchored'} : {}),
      }),
    )
    return result
  }
}
