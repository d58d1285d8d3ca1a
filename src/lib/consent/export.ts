import type {ConsentRegistry} from '../chain/registry.js'
import {recordAudit} from '../audit/record.js'
import {writeStreamAtomic} from '../core/atomic.js'
import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {subjectForPatient} from '../vault/read.js'
import {consentContext} from './context.js'
import type {FhirResource} from '../fhir/index.js'
import type {CustodianContext} from '../vault/custodian.js'
import {listConsents, type ConsentRecord, type ConsentStatus} from './list.js'
import {CONSENT_ID_SYSTEM, consentResource, readTerms, termsHashOf} from './terms.js'

export const CONSENT_STATUS_SYSTEM = 'https://medctl.dev/fhir/CodeSystem/consent-status'

export interface ExportedConsent {
  resource: FhirResource
  status: ConsentStatus
  /** Whether the stored terms were found and hash to the terms hash on chain. */
  terms: 'verified' | 'missing' | 'mismatch'
}

/** FHIR status from the chain's: only a consent in force (or waiting for its start) is active. */
function fhirStatus(status: ConsentStatus): 'active' | 'inactive' {
  return status === 'active' || status === 'pending' ? 'active' : 'inactive'
}

/**
 * Every consent the chain holds (optionally for one subject or grantee) as a FHIR R4 Consent. The
 * resource is the stored terms when this vault has them (they name the patient by identifier),
 * else one rebuilt from the chain naming the patient by pseudonym. Its status is the chain's now;
 * the consent id is its id and identifier, and medctl's finer status is a meta tag.
 */
export async function* exportConsents(
  registry: ConsentRegistry,
  custodian: CustodianContext,
  filter: {subject?: string; grantee?: string; now: number; logRange?: number},
): AsyncGenerator<ExportedConsent> {
  const records = await listConsents(registry, filter)
  const terms = new Map<string, {salt: string; consent: FhirResource}>()
  for await (const t of readTerms(custodian.db, custodian.address, custodian.ageIdentity, filter.subject ? {subject: filter.subject} : {}))
    terms.set(t.consentId, t)
  for (const record of records) yield toExported(record, terms.get(record.consentId.toLowerCase()))
}

function toExported(record: ConsentRecord, stored: {salt: string; consent: FhirResource} | undefined): ExportedConsent {
  let base: FhirResource
  let terms: ExportedConsent['terms']
  if (stored && termsHashOf(Buffer.from(stored.salt, 'hex'), stored.consent) === record.termsHash.toLowerCase()) {
    base = stored.consent
    terms = 'verified'
  } else {
    base = consentResource({
      patient: {subject: record.subject},
      grantee: record.grantee,
      purposes: record.purposes,
      classes: record.classes,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
    })
    terms = stored ? 'mismatch' : 'missing'
  }
  const id = record.consentId.toLowerCase()
  const {resourceType, ...rest} = base
  return {
    status: record.status,
    terms,
    resource: {
      resourceType,
      id: id.slice(2),
      meta: {tag: [{system: CONSENT_STATUS_SYSTEM, code: record.status}]},
      identifier: [{system: CONSENT_ID_SYSTEM, value: id}],
      ...rest,
      status: fhirStatus(record.status),
    },
  }
}

export interface ConsentExportResult {
  exported: number
  active: number
  inactive: number
  /** Consents whose full terms this vault holds (and that hash to the chain's terms hash). */
  withTerms: number
  /** Consents granted elsewhere (signed and submitted by another relayer): rebuilt from the chain, patient by pseudonym. */
  withoutTerms: number
  /** Stored terms that do not hash to the chain's terms hash (exported as the chain records them). */
  mismatched: number
  out: string
}

/**
 * The custodian exports consents as FHIR NDJSON, as a use case: streams atomically to the file
 * (mode 0600; nothing is left behind on failure) or to stdout for `-`, then audits the export.
 */
export async function exportConsentsToFile(
  session: Session,
  q: {out: string; patient?: string; grantee?: string; logRange?: number; stdout?: NodeJS.WritableStream},
): Promise<ConsentExportResult> {
  const custodian = await custodianContext(session)
  const ctx = await consentContext(session, {write: false})
  const subject = q.patient ? subjectForPatient(custodian, q.patient) : undefined
  const result: ConsentExportResult = {exported: 0, active: 0, inactive: 0, withTerms: 0, withoutTerms: 0, mismatched: 0, out: q.out}
  const stream = exportConsents(ctx.registry, custodian, {
    ...(subject ? {subject} : {}),
    ...(q.grantee ? {grantee: q.grantee} : {}),
    now: ctx.now,
    ...(q.logRange ? {logRange: q.logRange} : {}),
  })
  const fill = async (write: (line: string) => void): Promise<void> => {
    for await (const item of stream) {
      write(`${JSON.stringify(item.resource)}\n`)
      result.exported++
      if (item.resource.status === 'active') result.active++
      else result.inactive++
      if (item.terms === 'verified') result.withTerms++
      else result.withoutTerms++
      if (item.terms === 'mismatch') result.mismatched++
    }
  }
  if (q.out === '-') {
    const out = q.stdout ?? process.stdout
    await fill((line) => out.write(line))
  } else {
    await writeStreamAtomic(q.out, fill)
  }
  await recordAudit(session, {
    type: 'export',
    action: 'E',
    outcome: 'success',
    ...(subject ? {subject} : {}),
    detail: {what: 'consents', format: 'fhir', exported: result.exported, ...(q.grantee ? {grantee: q.grantee} : {})},
  })
  return result
}
