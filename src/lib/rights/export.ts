import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {showEntries, toFhirAuditEvent} from '../audit/index.js'
import {recordAudit} from '../audit/record.js'
import {consentContext} from '../consent/context.js'
import {exportConsents} from '../consent/export.js'
import {writeFileAtomic} from '../core/atomic.js'
import {MedctlError, usageError} from '../core/errors.js'
import type {FhirResource} from '../fhir/index.js'
import {openContentStore} from '../ipfs/index.js'
import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {showRecords, subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'

/**
 * `records export-patient` (GDPR Art. 15 access, Art. 20 portability): everything this custodian
 * holds about one patient, as FHIR R4, in a folder the patient can take anywhere:
 *
 *   record.json        the whole record, a Bundle (collection) of every resource of every class
 *   consents.json      a Bundle of the patient's consents as FHIR Consent, status from the chain now
 *   audit-events.json  a Bundle of every audit entry about the patient as FHIR AuditEvent (IHE BALP):
 *                      who saw what (accounts, classes, CIDs), when, why (purpose of use), outcome
 *   manifest.json      what was exported, from which chain, registry and block, with each file's SHA-256
 *
 * Each file is written atomically (temp, fsync, rename; mode 0600). Audited: the export's intent
 * before anything is read (so it is itself among the audit events exported), its outcome after.
 */
export const PATIENT_EXPORT_FILES = {
  record: 'record.json',
  consents: 'consents.json',
  auditEvents: 'audit-events.json',
  manifest: 'manifest.json',
} as const

export interface PatientExportResult {
  subject: string
  out: string
  files: {record: string; consents: string; auditEvents: string; manifest: string}
  resources: number
  classes: string[]
  consents: {total: number; active: number; inactive: number; byChainStatus: Record<string, number>}
  auditEvents: number
  /** The chain the consent statuses were read from (null when the profile has no registry). */
  chain: {chainId: number; registry: string; block: number} | null
  exportedAt: string
}

function outDirectory(out: string): string {
  const dir = resolve(out)
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw usageError('E_BAD_OUT', '--out must name a folder.')
    return dir
  }
  if (!existsSync(dirname(dir))) throw usageError('E_BAD_OUT', 'The folder that would hold --out does not exist.')
  mkdirSync(dir, {mode: 0o700})
  return dir
}

const collection = (resources: readonly FhirResource[], fullUrl: (r: FhirResource) => string | undefined): FhirResource => ({
  resourceType: 'Bundle',
  type: 'collection',
  timestamp: new Date().toISOString(),
  entry: resources.map((resource) => {
    const url = fullUrl(resource)
    return {...(url ? {fullUrl: url} : {}), resource}
  }),
})

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

export async function exportPatient(session: Session, q: {patient: string; out: string; logRange?: number}): Promise<PatientExportResult> {
  const custodian = await custodianContext(session)
  // E_ERASED (exit 2) for an erased patient: nothing about them is left to export.
  const subject = subjectForPatient(custodian, q.patient)
  if (!new RecordIndex(custodian.db, custodian.address).hasSubject(subject))
    throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient.', {exitCode: 2})
  const dir = outDirectory(q.out)
  const exportedAt = new Date().toISOString()
  const audit = {
    type: 'export' as const,
    action: 'R' as const,
    subject,
    purpose: 'PATRQT',
    detail: {what: 'patient-record', format: 'fhir'},
  }
  await recordAudit(session, {...audit, outcome: 'success', detail: {...audit.detail, phase: 'intent'}})
  try {
    const record = await showRecords(custodian, {patient: q.patient}, openContentStore(session))

    const consents: FhirResource[] = []
    const byChainStatus: Record<string, number> = {}
    let chain: PatientExportResult['chain'] = null
    if (session.profile.chain.registry) {
      const ctx = await consentContext(session, {write: false})
      chain = {chainId: ctx.chainId, registry: ctx.address, block: ctx.head}
      for await (const c of exportConsents(ctx.registry, custodian, {
        subject,
        now: ctx.now,
        ...(q.logRange ? {logRange: q.logRange} : {}),
      })) {
        consents.push(c.resource)
        byChainStatus[c.status] = (byChainStatus[c.status] ?? 0) + 1
      }
    }

    // Every entry of this home's log about the patient (its subject pseudonym), this export's intent included.
    const events = showEntries(session.paths.auditDir, {subject}).map(({index, ...entry}) => toFhirAuditEvent(entry, index) as FhirResource)

    const files = {
      record: join(dir, PATIENT_EXPORT_FILES.record),
      consents: join(dir, PATIENT_EXPORT_FILES.consents),
      auditEvents: join(dir, PATIENT_EXPORT_FILES.auditEvents),
      manifest: join(dir, PATIENT_EXPORT_FILES.manifest),
    }
    const texts = {
      record: `${JSON.stringify(record.bundle, null, 2)}\n`,
      consents: `${JSON.stringify(
        collection(consents, (r) => `urn:medctl:consent:${String(r.id)}`),
        null,
        2,
      )}\n`,
      auditEvents: `${JSON.stringify(
        collection(events, (r) => `urn:medctl:audit:${String(r.id)}`),
        null,
        2,
      )}\n`,
    }
    const active = consents.filter((c) => c.status === 'active').length
    const result: PatientExportResult = {
      subject,
      out: dir,
      files,
      resources: record.resources,
      classes: record.classes,
      consents: {total: consents.length, active, inactive: consents.length - active, byChainStatus},
      auditEvents: events.length,
      chain,
      exportedAt,
    }
    const manifest = {
      format: 'medctl-patient-export/1',
      subject,
      exportedAt,
      chain,
      files: Object.fromEntries(
        (['record', 'consents', 'auditEvents'] as const).map((k) => [PATIENT_EXPORT_FILES[k], {sha256: sha256(texts[k])}]),
      ),
      counts: {resources: result.resources, consents: result.consents.total, auditEvents: result.auditEvents},
    }
    writeFileAtomic(files.record, texts.record)
    writeFileAtomic(files.consents, texts.consents)
    writeFileAtomic(files.auditEvents, texts.auditEvents)
    writeFileAtomic(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`)
    await recordAudit(session, {
      ...audit,
      outcome: 'success',
      classes: record.classes,
      detail: {
        ...audit.detail,
        phase: 'written',
        resources: result.resources,
        consents: result.consents.total,
        auditEvents: result.auditEvents,
      },
    })
    return result
  } catch (error) {
    await recordAudit(session, {
      ...audit,
      outcome: 'failure',
      reason: (error as {code?: string}).code ?? 'E_UNEXPECTED',
      detail: {...audit.detail, phase: 'written'},
    })
    throw error
  }
}
