import {closeSync, fsyncSync, openSync, renameSync, writeSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/cli/errors.js'
import {logRangeFlag, profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {recordAudit} from '../../lib/audit/record.js'
import {consentContext, granteeAddress} from '../../lib/consent/context.js'
import {exportConsents} from '../../lib/consent/export.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export interface ConsentExportResult {
  exported: number
  active: number
  inactive: number
  /** Consents whose full terms this vault holds (and that hash to the chain's terms hash). */
  withTerms: number
  /** Consents granted elsewhere (signed and submitted by another relayer): rebuilt from the chain, patient by pseudonym. */
  withoutTerms: number
  out: string
}

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
    if (out === '-' && this.jsonEnabled()) throw usageError('E_OUT_CONFLICT', '--out - writes the resources to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    const custodian = await custodianContext(session)
    const ctx = await consentContext(session, {write: false})
    const subject = this.flags.patient ? subjectForPatient(custodian, this.flags.patient) : undefined
    const grantee = this.flags.grantee ? granteeAddress(session, this.flags.grantee) : undefined

    const result: ConsentExportResult = {exported: 0, active: 0, inactive: 0, withTerms: 0, withoutTerms: 0, out}
    let mismatched = 0
    const temp = `${out}.partial`
    const fd = out === '-' ? 1 : openSync(temp, 'w', 0o600)
    try {
      for await (const item of exportConsents(ctx.registry, custodian, {subject, grantee, now: ctx.now, logRange: this.flags['log-range']})) {
        writeSync(fd, `${JSON.stringify(item.resource)}\n`)
        result.exported++
        if (item.resource.status === 'active') result.active++
        else result.inactive++
        if (item.terms === 'verified') result.withTerms++
        else result.withoutTerms++
        if (item.terms === 'mismatch') mismatched++
      }
      if (out !== '-') fsyncSync(fd)
    } finally {
      if (out !== '-') closeSync(fd)
    }
    if (out !== '-') renameSync(temp, out)

    await recordAudit(session, {type: 'export', action: 'E', outcome: 'success', ...(subject ? {subject} : {}), detail: {what: 'consents', format: 'fhir', exported: result.exported, ...(grantee ? {grantee} : {})}})
    if (mismatched > 0) this.warn(`${mismatched} stored consent(s) do not match the terms hash on chain; they were exported as the chain records them.`)
    const summary = renderFields({exported: result.exported, active: result.active, inactive: result.inactive, 'with full terms': result.withTerms, 'rebuilt from chain': result.withoutTerms, out})
    if (out === '-') this.note(summary)
    else this.log(summary)
    return result
  }
}
