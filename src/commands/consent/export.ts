import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {logRangeFlag, profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {exportConsentsToFile, type ConsentExportResult} from '../../lib/consent/export.js'

export default class ConsentExport extends BaseCommand<typeof ConsentExport> {
  static override summary = 'Export consents as FHIR R4 Consent NDJSON, their status taken from the chain.'
  static override description = `One Consent per grant the chain holds. Consent.status is the chain's decision now: active (in force, or not yet started) or inactive (revoked, expired or superseded by a newer grant for the same pair); medctl's exact status is in meta.tag (system https://medctl.dev/fhir/CodeSystem/consent-status). Consent.id and identifier (urn:medctl:consent) carry the consent id.

When this vault holds the consent's full terms (it granted or imported it), the exported resource is those terms, checked against the terms hash on chain: they name the patient by identifier, so the file is PHI and is written with mode 0600. Otherwise the resource is rebuilt from the chain and names the patient by pseudonym (system urn:medctl:subject). The export is written to the audit log.

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> consent export --format fhir --out consents.ndjson',
    '<%= config.bin %> consent export --patient "http://hospital.example/mrn|12345" --out - | jq .status',
  ]

  static override flags = {
    profile: profileFlag,
    format: Flags.string({description: 'Output format.', options: ['fhir'], default: 'fhir'}),
    out: Flags.string({description: 'File to write (NDJSON); - for stdout.', required: true}),
    patient: Flags.string({description: 'Only this patient (system|value).'}),
    grantee: Flags.string({description: 'Only this grantee (address or profile).'}),
    'log-range': logRangeFlag,
    'rpc-timeout': rpcTimeoutFlag,
  }

  async run(): Promise<ConsentExportResult> {
    const {out} = this.flags
    if (out === '-' && this.jsonEnabled())
      throw usageError('E_OUT_CONFLICT', '--out - writes the resources to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    const result = await exportConsentsToFile(session, {
      out,
      ...(this.flags.patient ? {patient: this.flags.patient} : {}),
      ...(this.flags.grantee ? {grantee: granteeAddress(session, this.flags.grantee)} : {}),
      logRange: this.flags['log-range'],
    })
    if (result.mismatched > 0)
      this.warn(
        `${result.mismatched} stored consent(s) do not match the terms hash on chain; they were exported as the chain records them.`,
      )
    const summary = renderFields({
      exported: result.exported,
      active: result.active,
      inactive: result.inactive,
      'with full terms': result.withTerms,
      'rebuilt from chain': result.withoutTerms,
      out,
    })
    if (out === '-') this.note(summary)
    else this.log(summary)
    return result
  }
}
