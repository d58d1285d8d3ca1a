import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {exportFhir} from '../../lib/audit/index.js'

export default class AuditExport extends BaseCommand<typeof AuditExport> {
  static override summary =
    'Export the audit log as FHIR R4 AuditEvent NDJSON, each event following the IHE BALP pattern for what it records.'
  static override description = `One AuditEvent per entry, with the IHE Basic Audit Log Patterns profile, type, subtype and action of what happened: imports and grants PatientCreate/Create, revokes and opt-outs PatientUpdate, custodian reads PatientRead, consent decisions AuthZconsent, shares PrivacyDisclosure.Source, fetches by the grantee PrivacyDisclosure.Recipient, break-glass a Security Alert with the purposes of use ETREAT and BTG. A profile is claimed only when the event meets it (the RESTful patterns are success-only). The patient is the pseudonym, never an identifier; agents are Ethereum accounts.

Exit codes: 0 ok, 1 failure, 2 usage error.`
  static override examples = [
    '<%= config.bin %> audit export --format fhir --out audit.ndjson',
    '<%= config.bin %> audit export --format fhir --out audit.ndjson --json',
  ]
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
