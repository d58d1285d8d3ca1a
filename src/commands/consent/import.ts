import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode} from '../../lib/core/errors.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import type {ConsentImportResult} from '../../lib/consent/import.js'
import {importConsentFile} from '../../lib/consent/actions.js'

export default class ConsentImport extends BaseCommand<typeof ConsentImport> {
  static override summary = 'Grant consents in bulk from FHIR R4 Consent NDJSON/JSON or CSV (migrations).'
  static override description = `Each active Consent with a permit provision becomes one grant: the patient (Consent.patient.identifier, or a Patient/id reference to an imported patient), the grantee (provision.actor[].reference.identifier = urn:ethereum:0x…), the purposes (provision.purpose, HL7 PurposeOfUse), the classes (provision.class: medctl data classes or FHIR resource types) and the window (provision.period; the end is required). CSV takes the columns patient (system|value), grantee (address or profile), purpose, classes (separated by ; or spaces), from and until (ISO dates) and optionally id.

Grants go on chain in batches (--batch) through grantBatch; the full Consent stays off chain, encrypted, and only its salted hash is recorded. Importing the same file again grants nothing twice (duplicates are counted and cost no gas), and an interrupted import resumes when run again. Every rejected line goes to the report with its location, code and reason, and the rest still lands. Every grant is written to the audit log. The result always satisfies read = granted + duplicates + rejected.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 partial success (some consents rejected; see the report).`

  static override examples = [
    '<%= config.bin %> consent import consents.ndjson',
    '<%= config.bin %> consent import consents.csv --batch 200 --report rejects.ndjson --json',
    'cat consents.ndjson | <%= config.bin %> consent import - --dry-run',
  ]

  static override flags = {
    profile: profileFlag,
    batch: Flags.integer({description: 'Grants per transaction, from 1 to 500.', default: 100, min: 1, max: 500}),
    report: Flags.string({description: 'Where to write rejected lines (NDJSON). Default: under MEDCTL_HOME/data/reports.'}),
    'dry-run': Flags.boolean({description: 'Validate only: send nothing, write nothing (the report only with --report).', default: false}),
    confirmations: Flags.integer({description: 'Blocks to wait for after each batch.', default: 1, min: 1}),
    'no-anchor': Flags.boolean({description: "Do not anchor the audit log's tree head on chain when the import finishes."}),
    'allow-unknown-patient': Flags.boolean({
      description: 'Grant for patients this vault holds no record of (else each such consent is rejected E_UNKNOWN_PATIENT).',
      default: false,
    }),
    'rpc-timeout': rpcTimeoutFlag,
  }

  static override args = {
    file: Args.string({
      description: 'The consents: .ndjson, .ndjson.gz, .json (Consent or Bundle) or .csv; - reads NDJSON from stdin.',
      required: true,
    }),
  }

  async run(): Promise<ConsentImportResult> {
    const session = this.openSession(this.flags.profile)
    const dryRun = this.flags['dry-run']
    const progress = this.progress()
    const result = await importConsentFile(session, {
      file: this.args.file,
      batchSize: this.flags.batch,
      ...(this.flags.report ? {reportPath: this.flags.report} : {}),
      dryRun,
      confirmations: this.flags.confirmations,
      allowUnknownPatients: this.flags['allow-unknown-patient'],
      anchor: !this.flags['no-anchor'],
      resolveGrantee: (name) => granteeAddress(session, name),
      onProgress: progress.update,
    })
    progress.finish()
    this.log(
      renderFields({
        read: result.read,
        granted: result.granted,
        duplicates: result.duplicates,
        rejected: result.rejected,
        transactions: result.transactions,
        'gas used': result.gasUsed,
        report: result.report ?? (result.rejected === 0 ? '(no rejects)' : result.rejects ? '(dry run: listed below)' : '(none written)'),
        ...(dryRun ? {valid: result.valid, 'dry run': 'nothing sent'} : {}),
      }),
    )
    for (const r of result.rejects ?? [])
      this.note(`rejected ${r.line === undefined ? `entry ${r.entry ?? '?'}` : `line ${r.line}`}: ${r.code}`)
    if (result.unknownPatients > 0)
      this.warn(`${result.unknownPatients} consent(s) were granted for patients with no records in this vault (--allow-unknown-patient).`)
    if (result.rejected > 0) {
      this.warn(`${result.rejected} consent(s) rejected${result.report ? `; see ${result.report}` : ''}.`)
      this.setExitCode(ExitCode.PARTIAL)
    }
    return result
  }
}
