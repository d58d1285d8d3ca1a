import {createHash} from 'node:crypto'
import {join} from 'node:path'
import {anchorLog} from '../audit/service.js'
import type {ProgressEvent} from '../core/progress.js'
import type {Session} from '../session/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import {custodianContext} from '../vault/custodian.js'
import {subjectForPatient} from '../vault/read.js'
import {auditConsent, auditConsents, auditedConsentIds} from './audit.js'
import {assertBlock, consentContext, subjectOf} from './context.js'
import type {ConsentImportResult} from './import.js'
import {purposesMask, type CheckResult, type Purpose} from './model.js'
import {checkConsent, openBreakGlass, optOut, reviewBreakGlass, setController} from './registry.js'

/**
 * The consent use cases besides grant, revoke, submit and export: each owns its side effects in
 * order (send exactly once, persist the chain, audit) and returns data; commands only render.
 */

/** A decision read from the chain; every decision, permit or deny, is audited. */
export async function decideConsent(
  session: Session,
  q: {patient: string; grantee: string; purpose: Purpose; classes: readonly DataClass[]; atBlock?: number},
): Promise<CheckResult & {subject: string; grantee: string}> {
  const custodian = await custodianContext(session)
  const ctx = await consentContext(session, {write: false})
  assertBlock(ctx, q.atBlock)
  const subject = subjectForPatient(custodian, q.patient)
  const result = await checkConsent(ctx.registry, {
    subject,
    grantee: q.grantee,
    purpose: q.purpose,
    classes: q.classes,
    ...(q.atBlock === undefined ? {} : {blockTag: q.atBlock}),
  })
  await auditConsent(session, {
    type: 'consent-decision',
    outcome: result.decision === 'Permit' ? 'success' : 'denied',
    subject,
    grantee: q.grantee,
    purposes: [q.purpose],
    classes: q.classes,
    ...(result.consentId ? {consentId: result.consentId} : {}),
    reason: result.reason,
  })
  return {...result, subject, grantee: q.grantee}
}

export async function optOutOfPurposes(
  session: Session,
  q: {patient?: string; subject?: string; purposes: Purpose[]; confirmations?: number},
) {
  const subject = await subjectOf(session, q)
  const ctx = await consentContext(session, {write: true})
  const result = await optOut(ctx.registry, subject, purposesMask(q.purposes), {...ctx.send, confirmations: q.confirmations ?? 1})
  await session.chainWritten()
  await auditConsent(session, {type: 'opt-out', outcome: 'success', subject, purposes: q.purposes})
  return {...result, purposes: q.purposes}
}

export async function setPatientController(session: Session, q: {patient: string; controller: string; confirmations?: number}) {
  const custodian = await custodianContext(session)
  const ctx = await consentContext(session, {write: true})
  const subject = subjectForPatient(custodian, q.patient)
  const result = await setController(ctx.registry, subject, q.controller, {...ctx.send, confirmations: q.confirmations ?? 1})
  await session.chainWritten()
  await auditConsent(session, {type: 'controller', outcome: 'success', subject, detail: {controller: q.controller}})
  return result
}

export async function openEmergencyAccess(session: Session, q: {patient: string; grantee: string; reason: string; hours: number}) {
  const custodian = await custodianContext(session)
  const ctx = await consentContext(session, {write: true})
  const subject = subjectForPatient(custodian, q.patient)
  // Only the reason's hash goes on chain (the text may describe the patient).
  const reasonHash = `0x${createHash('sha256').update(q.reason).digest('hex')}`
  const opened = await openBreakGlass(ctx.registry, {subject, grantee: q.grantee, hours: q.hours, reasonHash}, ctx.send)
  await session.chainWritten()
  await auditConsent(session, {
    type: 'break-glass',
    outcome: 'success',
    subject,
    grantee: q.grantee,
    purposes: ['ETREAT', 'BTG'],
    reason: 'BreakGlass',
    detail: {accessId: opened.accessId, hours: q.hours, reasonHash},
  })
  return {accessId: opened.accessId, until: opened.until, subject, grantee: q.grantee, txHash: opened.txHash}
}

export async function reviewEmergencyAccess(session: Session, q: {accessId: string; approved: boolean}) {
  const ctx = await consentContext(session, {write: true})
  const result = await reviewBreakGlass(ctx.registry, q.accessId, q.approved, ctx.send)
  await session.chainWritten()
  await auditConsent(session, {type: 'review', outcome: 'success', detail: {accessId: q.accessId, approved: result.approved}})
  return {accessId: q.accessId, approved: result.approved, txHash: result.txHash}
}

export interface ConsentImportRequest {
  file: string
  batchSize: number
  reportPath?: string
  dryRun?: boolean
  confirmations?: number
  allowUnknownPatients?: boolean
  /** Anchor the audit log's tree head when the import sent anything (default true). */
  anchor?: boolean
  resolveGrantee: (nameOrAddress: string) => string
  onProgress?: (event: ProgressEvent) => void
}

/**
 * A bulk consent migration, as a use case: batches sent exactly once, the chain persisted after
 * each, grants audited (once, recovered ones included), the log anchored at the end.
 */
export async function importConsentFile(session: Session, q: ConsentImportRequest): Promise<ConsentImportResult> {
  const custodian = await custodianContext(session)
  const ctx = q.dryRun ? undefined : await consentContext(session, {write: true})
  const reportPath =
    q.reportPath ??
    (q.dryRun ? undefined : join(session.paths.reportsDir, `consent-import-${new Date().toISOString().replaceAll(':', '-')}.ndjson`))
  // A bulk migration's reader (CSV, FHIR Consent parsing) loads only for it (start-up of the other consent commands).
  const {importConsents} = await import('./import.js')
  const result = await importConsents({
    file: q.file,
    custodian,
    ...(ctx ? {registry: ctx.registry, send: ctx.send} : {}),
    batchSize: q.batchSize,
    ...(reportPath ? {reportPath} : {}),
    dryRun: Boolean(q.dryRun),
    ...(q.confirmations ? {confirmations: q.confirmations} : {}),
    resolveGrantee: q.resolveGrantee,
    ...(q.onProgress ? {onProgress: q.onProgress} : {}),
    afterBatch: () => session.chainWritten(),
    audit: (entries) => auditConsents(session, entries),
    auditedGrants: () => auditedConsentIds(session, 'grant'),
    allowUnknownPatients: Boolean(q.allowUnknownPatients),
  })
  if (!q.dryRun && result.transactions > 0 && q.anchor !== false) await anchorLog(session)
  return result
}
