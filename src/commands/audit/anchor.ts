import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {anchorLog, type AnchorResult} from '../../lib/audit/index.js'

export default class AuditAnchor extends BaseCommand<typeof AuditAnchor> {
  static override summary = 'Sign the audit log\'s current tree head with the custodian key and anchor it on chain.'
  static override description = `The head (size, Merkle root, hash of the last entry, time) is signed (EIP-191) by the custodian's key, anchored in the ConsentRegistry and kept in audit/heads.ndjson. Bulk commands anchor when they finish, and the log anchors itself every MEDCTL_AUDIT_ANCHOR_EVERY entries (default 100).

Exit codes: 0 ok, 1 failure, 2 empty log or no registry, 4 the log is damaged (torn).`

  static override examples = ['<%= config.bin %> audit anchor', '<%= config.bin %> audit anchor --json | jq .result.txHash']
  static override flags = {profile: profileFlag}

  async run(): Promise<AnchorResult> {
    const result = await anchorLog(this.openSession(this.flags.profile))
    this.log(renderFields({size: result.size, root: result.root, tx: result.txHash, block: result.blockNumber, ...(result.alreadyAnchored ? {note: 'already anchored'} : {})}))
    return result
  }
}
