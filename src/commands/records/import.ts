import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, usageError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import type {ImportResult} from '../../lib/vault/import.js'
import {DEFAULT_MAX_LINE_BYTES, loadCsvMapping} from '../../lib/fhir/index.js'
import {importRecordFiles} from '../../lib/vault/use-cases.js'

export default class RecordsImport extends BaseCommand<typeof RecordsImport> {
  static override summary =
    'Import FHIR R4 records (JSON, Bundles, Bulk Data NDJSON, CSV with a mapping), encrypted per patient and data class.'
  static override description = `Reads files and directories (recursively), or stdin with --file -. Every resource is validated against the FHIR R4 definitions; every rejected line or bundle entry goes to the report with its location, code and reason, and its valid neighbours still import. Each patient's resources are grouped by data class into age-encrypted record objects stored in the content store; patients are keyed by the pseudonym HMAC(pseudonymKey, system|value) of their identifier.

The report holds codes, line numbers and keyed references only (no file names, ids or values): the JSON result's rejectedFiles says which file each "file:…" reference stands for. Symbolic links inside a directory are not followed; each is reported. A line longer than --max-line-mb is rejected.

Re-running the same import adds nothing (duplicates are counted), and an interrupted import resumes: run the same command again. The result always satisfies read = imported + duplicates + rejected.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 partial success (some input rejected; see the report).`

  static override examples = [
    '<%= config.bin %> records import data/samples/synthea-r4',
    '<%= config.bin %> records import export/Patient.ndjson export/Observation.ndjson.gz --json',
    '<%= config.bin %> records import legacy.csv --mapping mapping.json --report rejects.ndjson',
    'cat bundle.json | <%= config.bin %> records import --file - --dry-run',
  ]

  static override flags = {
    profile: profileFlag,
    file: Flags.string({description: 'Read this file; "-" reads stdin.', multiple: true}),
    mapping: Flags.string({description: 'CSV mapping file (JSON) for .csv inputs.'}),
    report: Flags.string({description: 'Where to write rejected lines (NDJSON). Default: under MEDCTL_HOME/data/reports.'}),
    'dry-run': Flags.boolean({description: 'Validate only: write nothing (the report only with --report).', default: false}),
    'no-anchor': Flags.boolean({description: "Do not anchor the audit log's tree head on chain when the import finishes."}),
    'max-line-mb': Flags.integer({
      description: 'Reject (rather than read) an NDJSON line or CSV row longer than this.',
      default: DEFAULT_MAX_LINE_BYTES / 1024 / 1024,
      min: 1,
      max: 512,
      env: 'MEDCTL_MAX_LINE_MB',
    }),
    'fhir-base': Flags.string({
      description:
        'Base URL of your own FHIR server: absolute references under it are local (repeatable). Absolute Patient references to any other server are rejected.',
      multiple: true,
      env: 'MEDCTL_FHIR_BASE',
    }),
    threads: Flags.integer({
      description:
        'Threads validating resources beside the reading one. Default 0: validation is compiled and costs less on the reading thread than handing resources to a thread.',
      min: 0,
      max: 16,
      env: 'MEDCTL_IMPORT_THREADS',
    }),
    'buffer-mb': Flags.integer({
      description: 'Plaintext buffered in memory before objects are committed (bounds memory; smaller commits more often).',
      default: 64,
      min: 1,
    }),
  }

  static override args = {paths: Args.string({description: 'Files or directories to import.'})}
  static override strict = false

  async run(): Promise<ImportResult> {
    const sources = [...new Set([...this.positionals, ...(this.flags.file ?? [])])]
    if (sources.length === 0) throw usageError('E_NO_INPUT', 'Name at least one file or directory to import, or --file - for stdin.')
    const mapping = this.flags.mapping ? loadCsvMapping(this.flags.mapping) : undefined
    const dryRun = this.flags['dry-run']
    const session = this.openSession(this.flags.profile)
    const progress = this.progress()
    const result = await importRecordFiles(session, {
      sources,
      ...(mapping ? {mapping} : {}),
      dryRun,
      ...(this.flags.report ? {reportPath: this.flags.report} : {}),
      bufferBytes: this.flags['buffer-mb'] * 1024 * 1024,
      maxLineBytes: this.flags['max-line-mb'] * 1024 * 1024,
      ...(this.flags.threads === undefined ? {} : {validationThreads: this.flags.threads}),
      localBases: this.flags['fhir-base'] ?? [],
      anchor: !this.flags['no-anchor'],
      onProgress: progress.update,
    })
    progress.finish()
    for (const r of result.rejects ?? [])
      this.note(`rejected ${r.file}${r.line === undefined ? (r.entry === undefined ? '' : ` entry ${r.entry}`) : `:${r.line}`}: ${r.code}`)
    this.log(
      renderFields({
        read: result.read,
        imported: result.imported,
        duplicates: result.duplicates,
        rejected: result.rejected,
        patients: result.patients,
        objects: result.objects,
        report: result.report ?? (result.rejected === 0 ? '(no rejects)' : result.rejects ? '(dry run: listed below)' : '(none written)'),
        ...(dryRun ? {'dry run': 'nothing written'} : {}),
      }),
    )
    if (result.rejected > 0) {
      this.warn(`${result.rejected} input line(s) rejected${result.report ? `; see ${result.report}` : ''}.`)
      for (const file of result.rejectedFiles.slice(0, 10)) this.warn(`${file.ref} is ${file.path} (${file.rejected} rejected)`)
      this.setExitCode(ExitCode.PARTIAL)
    }
    return result
  }
}
