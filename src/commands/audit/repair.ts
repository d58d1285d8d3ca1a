import {BaseCommand} from '../../lib/cli/base-command.js'
import {yesFlag} from '../../lib/cli/flags.js'
import {auditLog} from '../../lib/audit/index.js'

export default class AuditRepair extends BaseCommand<typeof AuditRepair> {
  static override summary = 'Move a torn last line (a write cut short by a crash) aside so the log can grow again.'
  static override description = `The torn bytes are kept in audit/torn-<time>.bin, never dropped. Run \`audit verify\` first: it names the torn entry.

Exit codes: 0 ok (also when nothing was torn), 2 --yes missing, 130 cancelled.`

  static override examples = ['<%= config.bin %> audit repair --yes', '<%= config.bin %> audit repair --yes --json']
  static override flags = {yes: yesFlag}

  async run(): Promise<{quarantined: string | null; index: number | null}> {
    await this.confirm('Move the torn last line of the audit log aside?', this.flags.yes)
    const result = auditLog(this.paths).repair()
    this.log(result.quarantined ? `Moved torn entry ${result.index} to ${result.quarantined}.` : 'Nothing was torn.')
    return result
  }
}
