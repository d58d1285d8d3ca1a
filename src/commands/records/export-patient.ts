import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {exportPatient, type PatientExportResult} from '../../lib/rights/export.js'

export default class RecordsExportPatient extends BaseCommand<typeof RecordsExportPatient> {
  static override summary = 'Export everything held about one patient as FHIR R4 (GDPR Art. 15 access, Art. 20 portability).'
  static override description = `Writes four files into --out (created when its parent exists; each written atomically, mode 0600): record.json, the patient's whole record as a FHIR Bundle (collection); consents.json, a Bundle of their consents as FHIR Consent (scope patient-privacy, provision period, actor = grantee account, purpose, data classes) with the status the chain gives now (active; inactive when revoked, expired or superseded — the chain's own status is in meta.tag); audit-events.json, a Bundle of every entry of this home's audit log about the patient as FHIR AuditEvent (IHE BALP: who — accounts — saw what — classes, CIDs — when and why); manifest.json, the chain, registry and block read and the SHA-256 of each file. The export is itself audited (purpose PATRQT), before anything is read and after the files are written. The output is PHI: hand it to the patient.

Exit codes: 0 ok, 1 failure, 2 usage error, unknown or erased patient (E_ERASED), 4 a stored object is missing or corrupt.`

  static override examples = [
    '<%= config.bin %> records export-patient --patient "http://hospital.example/mrn|12345" --out patient-12345/',
    '<%= config.bin %> records export-patient --patient "http://hospital.example/mrn|12345" --out patient-12345/ --json | jq .result.consents',
  ]

  static override flags = {
    profile: profileFlag,
    'rpc-timeout': rpcTimeoutFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    out: Flags.string({description: 'Folder to write the export into (created when its parent exists).', required: true}),
  }

  async run(): Promise<PatientExportResult> {
    const session = this.openSession(this.flags.profile)
    const result = await exportPatient(session, {patient: this.flags.patient, out: this.flags.out})
    this.log(
      renderFields({
        out: result.out,
        resources: `${result.resources} (${result.classes.join(', ')})`,
        consents: `${result.consents.total} (${result.consents.active} active, ${result.consents.inactive} inactive)`,
        'audit events': result.auditEvents,
        'consent status from': result.chain
          ? `registry ${result.chain.registry} on chain ${result.chain.chainId} at block ${result.chain.block}`
          : '(no registry)',
      }),
    )
    return result
  }
}
