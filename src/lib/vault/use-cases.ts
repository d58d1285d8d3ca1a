import {join} from 'node:path'
import {recordAudit} from '../audit/record.js'
import {anchorLog} from '../audit/service.js'
import type {ProgressEvent} from '../core/progress.js'
import {MedctlError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import type {CsvMapping, FhirResource} from '../fhir/index.js'
import type {DataClass} from '../fhir/data-classes.js'
import {KuboStore, openContentStore, openLocalBlocks} from '../ipfs/index.js'
import {custodianContext} from './custodian.js'
import {attachFile, type AttachResult} from './attach.js'
import {importRecords, type ImportResult} from './import.js'
import {showRecords} from './read.js'
import {uploadObjects, type UploadResult} from './upload.js'
import {emergencySummary, ipsBundle, SUMMARY_CLASSES, type EmergencySummary} from './summary.js'

/**
 * The records use cases, each owning its side effects in order (audit intent, act, store, audit
 * outcome, anchor); commands parse, call one of these, render.
 */

export interface ImportRequest {
  sources: string[]
  mapping?: CsvMapping
  dryRun?: boolean
  reportPath?: string
  bufferBytes: number
  maxLineBytes: number
  /** Threads validating resources (see ImportOptions.validationThreads). */
  validationThreads?: number
  localBases?: string[]
  /** Anchor the audit log's tree head when done (default true, when the profile has a registry). */
  anchor?: boolean
  onProgress?: (event: ProgressEvent) => void
}

export async function importRecordFiles(session: Session, q: ImportRequest): Promise<ImportResult> {
  const custodian = await custodianContext(session)
  const reportPath =
    q.reportPath ??
    (q.dryRun ? undefined : join(session.paths.reportsDir, `import-${new Date().toISOString().replaceAll(':', '-')}.ndjson`))
  const result = await importRecords({
    db: custodian.db,
    custodian,
    sources: q.sources,
    ...(q.mapping ? {mapping: q.mapping} : {}),
    dryRun: Boolean(q.dryRun),
    reportPath,
    bufferBytes: q.bufferBytes,
    groupBytes: Math.min(4 * 1024 * 1024, q.bufferBytes),
    maxLineBytes: q.maxLineBytes,
    ...(q.validationThreads === undefined ? {} : {validationThreads: q.validationThreads}),
    localBases: q.localBases ?? [],
    // Write-ahead: the import appends an intent entry before each commit and the outcome at the end.
    audit: q.dryRun ? undefined : (event) => recordAudit(session, {type: 'import', action: 'C', ...event}),
    ...(q.onProgress ? {onProgress: q.onProgress} : {}),
  })
  if (!q.dryRun && q.anchor !== false && session.profile.chain.registry) await anchorLog(session)
  return result
}

export interface AttachRequest {
  file: string
  patient: string
  dataClass: string
  contentType?: string
  anchor?: boolean
  onProgress?: (event: ProgressEvent) => void
}

/**
 * `records attach`: audit intent, stream the file encrypted into the store, link it by a
 * DocumentReference, audit the outcome (CIDs, class, size; never the file name or its hash),
 * anchor. A rerun with the same file finds the attachment and is audited as such.
 */
export async function attachRecordFile(session: Session, q: AttachRequest): Promise<AttachResult> {
  const custodian = await custodianContext(session)
  let subject: string | undefined
  let result: AttachResult
  try {
    result = await attachFile({
      db: custodian.db,
      custodian,
      file: q.file,
      patient: q.patient,
      dataClass: q.dataClass,
      ...(q.contentType ? {contentType: q.contentType} : {}),
      audit: async (event) => {
        subject = event.subject
        await recordAudit(session, {
          type: 'import',
          action: 'C',
          outcome: 'success',
          subject: event.subject,
          classes: [q.dataClass],
          detail: {kind: 'attach', phase: 'intent'},
        })
      },
      ...(q.onProgress ? {onProgress: q.onProgress} : {}),
    })
  } catch (error) {
    // A refusal before anything was stored (bad class, unknown or erased patient, missing file) has no intent to close.
    if (subject)
      await recordAudit(session, {
        type: 'import',
        action: 'C',
        outcome: 'failure',
        subject,
        classes: [q.dataClass],
        reason: (error as {code?: string}).code ?? 'E_UNEXPECTED',
        detail: {kind: 'attach', phase: 'failed'},
      }).catch(() => undefined)
    throw error
  }
  await recordAudit(session, {
    type: 'import',
    action: 'C',
    outcome: 'success',
    subject: result.subject,
    classes: [result.class],
    cids: [result.cid, result.recordCid],
    detail: {kind: 'attach', phase: result.created ? 'written' : 'existing', bytes: result.size},
  })
  if (result.created && q.anchor !== false && session.profile.chain.registry) await anchorLog(session)
  return result
}

export interface UploadRequest {
  kuboUrl?: string
  timeoutMs: number
  retries: number
  onProgress?: (event: ProgressEvent) => void
}

/** Replicates every object to a Kubo node and pins it (resumable); audited, failure included. */
export async function uploadRecords(session: Session, q: UploadRequest): Promise<UploadResult> {
  const profile = session.profile
  const url = q.kuboUrl ?? (profile.store.type === 'kubo' ? profile.store.url : profile.kuboUrl)
  if (!url)
    throw new MedctlError('E_NO_KUBO', 'No Kubo node to upload to.', {
      exitCode: 2,
      suggestions: ['Pass --kubo URL, or `medctl profile set store.url URL`.'],
    })
  const custodian = await custodianContext(session)
  const target = openContentStore(session, {kuboUrl: url, tuning: {timeoutMs: q.timeoutMs, retries: q.retries}})
  if (!(target instanceof KuboStore)) throw new MedctlError('E_NO_KUBO', 'No Kubo node to upload to.', {exitCode: 2})
  let result: UploadResult
  try {
    result = await uploadObjects({
      db: custodian.db,
      custodianAddress: custodian.address,
      source: openLocalBlocks(custodian.db),
      target,
      targetId: url,
      ...(q.onProgress ? {onProgress: q.onProgress} : {}),
    })
  } catch (error) {
    await recordAudit(session, {type: 'upload', action: 'C', outcome: 'failure', reason: (error as {code?: string}).code ?? 'E_UNEXPECTED'})
    throw error
  }
  await recordAudit(session, {
    type: 'upload',
    action: 'C',
    outcome: result.failed > 0 ? 'failure' : 'success',
    detail: {uploaded: result.uploaded, skipped: result.skipped, failed: result.failed, bytes: result.bytes},
  })
  return result
}

/** The custodian decrypts a patient's classes into a FHIR Bundle; audited before it leaves the service. */
export async function decryptPatient(session: Session, q: {patient: string; classes?: readonly DataClass[]}) {
  const custodian = await custodianContext(session)
  const shown = await showRecords(
    custodian,
    {patient: q.patient, ...(q.classes ? {classes: [...q.classes]} : {})},
    openContentStore(session),
  )
  await recordAudit(session, {type: 'decrypt', action: 'R', outcome: 'success', subject: shown.subject, classes: shown.classes})
  return shown
}

export {SUMMARY_CLASSES, BREAK_GLASS_CLASSES} from './summary.js'

/** The custodian builds a patient's emergency summary (IPS shape); audited like any decryption. */
export async function summarizePatient(
  session: Session,
  q: {patient: string},
): Promise<{subject: string; summary: EmergencySummary; ips: FhirResource}> {
  const custodian = await custodianContext(session)
  const shown = await showRecords(custodian, {patient: q.patient, classes: [...SUMMARY_CLASSES]}, openContentStore(session))
  await recordAudit(session, {
    type: 'decrypt',
    action: 'R',
    outcome: 'success',
    subject: shown.subject,
    classes: shown.classes,
    detail: {what: 'emergency-summary'},
  })
  const resources = shown.bundle.entry.map((e) => e.resource)
  const summary = emergencySummary(resources)
  return {subject: shown.subject, summary, ips: ipsBundle(summary, resources)}
}
