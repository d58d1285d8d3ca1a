import {BaseCommand} from '../../lib/cli/base-command.js'
import {publishLog} from '../../lib/audit/index.js'
import {EmbeddedStore} from '../../lib/ipfs/index.js'
import {openDatabase} from '../../lib/db/database.js'

export default class AuditPublish extends BaseCommand<typeof AuditPublish> {
  static override summary = 'Write the audit log and its signed tree heads to the content store and print the CID.'
  static override description = `An auditor elsewhere verifies it with \`medctl audit verify --log CID\` (after \`records upload\` replicated it, or from the same store). Entries hold pseudonyms only.

Exit codes: 0 ok, 1 failure.`

  static override examples = ['<%= config.bin %> audit publish', '<%= config.bin %> audit publish --json | jq -r .result.cid']

  async run(): Promise<{cid: string; entries: number; heads: number}> {
    const result = await publishLog(this.paths.auditDir, new EmbeddedStore(openDatabase(this.paths)))
    this.log(result.cid)
    return result
  }
}
