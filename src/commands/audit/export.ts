import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {exportFhir} from '../../lib/audit/index.js'

export default class AuditExport extends BaseCommand<typeof AuditExport> {
  static override summary = 'Export the audit log as FHIR R4 AuditEvent NDJSON (IHE BALP shape).'
  static override description = `Exit codes: 0 ok, 1 failure, 2 usage error.`
  static override examples = ['<%= config.bin %> audit export --format fhir --out audit.ndjson', '<%= config.bin %> audit export --format fhir --out audit.ndjson --json']
  static override flags = {
    format: Flags.string({description: 'Output format.', options: ['fhir'], default: 'fhir'}),
    out: Flags.string({description: 'File to write.', required: true}),
  }

  async run(): Promise<{written: number; out: string}> {
    const result = exportFhir(this.paths.auditDir, this.flags.out)
    this.log(`Wrote ${result.written} AuditEvent resources to ${result.out}.`)
    return result
  }
}
