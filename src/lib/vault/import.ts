import {createHash, createHmac} from 'node:crypto'
import {resolve as resolvePath} from 'node:path'
import {MedctlError} from '../core/errors.js'
import type {DataClass} from '../fhir/data-classes.js'
import {
  ValidationPool,
  classOf,
  defaultValidationThreads,
  isReferenceData,
  patientKeyOf,
  patientRefOf,
  readInputs,
  type CsvMapping,
  type FhirResource,
  type InputItem,
} from '../fhir/index.js'
import {EmbeddedStore} from '../ipfs/index.js'
import {encryptObject, encryptText, newObjectKey, wrapKey} from './crypto.js'
import type {Db} from '../db/database.js'
import {indexHash, subjectOf} from './pseudonym.js'
import {RecordIndex, type JobStatus} from './record-index.js'
import {RejectReport, type RejectRecord} from '../fhir/reject-report.js'
import {canonicalJson} from '../fhir/canonical-json.js'

export type {RejectRecord}

export interface ImportOptions {
  db: Db
  custodian: {address: string; recipient: string; pseudonymKey: Uint8Array}
  sources: string[]
  mapping?: CsvMapping
  dryRun?: boolean
  /** Where rejected lines go (NDJSON), created on the first reject; none when undefined. */
  reportPath?: string
  /** Flush a (patient, class) group into an object once its plaintext reaches this size. */
  groupBytes?: number
  /** Flush every group once this much plaintext is buffered in total (bounded memory). */
  bufferBytes?: number
  /** Objects encrypted at the same time during a flush. */
  concurrency?: number
  /** Threads validating resources (0: on the reading thread; default: one per core beyond the first, none on one core, at most four). */
  validationThreads?: number
  /** The longest NDJSON line or CSV row accepted, in bytes (default 64 MiB). */
  maxLineBytes?: number
  /** The largest whole-JSON file (a Bundle) read, in bytes (default 256 MiB). */
  maxJsonBytes?: number
  /** Base URLs of this organisation's FHIR server: absolute references under them are local. */
  localBases?: readonly string[]
  /**
   * Appends an import audit entry. Write-ahead: an intent entry naming the CIDs is appended before
   * each batch of objects is committed, and the outcome entry when the job ends, so no committed
   * record is ever without its import entry (a kill between the two leaves an intent with no
   * object, never an object with no entry). A failing append stops the import before the commit.
   */
  audit?: (event: ImportAuditEvent) => Promise<void>
  onProgress?: (event: {phase: string; done: number; unit: string}) => void
}

/** One import audit entry: the caller adds who and when (type 'import', action 'C'). */
export interface ImportAuditEvent {
  outcome: 'success' | 'failure'
  cids?: string[]
  classes?: DataClass[]
  detail: Record<string, string | number | boolean>
}

/** An input file with rejects: its keyed reference in the report, and its path (returned to the caller only, never written under the home). */
export interface RejectedSource {
  ref: string
  path: string
  rejected: number
}

export interface ImportResult {
  read: number
  imported: number
  duplicates: number
  rejected: number
  patients: number
  objects: number
  report: string | null
  dryRun: boolean
  jobId: number | null
  /** Which file each report `file` reference stands for (the first 1000 files with rejects). */
  rejectedFiles: RejectedSource[]
  /** A dry run without a report lists its rejects here (the file's path as given, line or entry, code). */
  rejects?: Array<{file: string; line?: number; entry?: number; code: string}>
}

/** Objects committed in one transaction after one write-ahead audit entry. */
const COMMIT_BATCH = 256
/** ... and at most this much ciphertext held for one commit (bounded memory whatever `bufferBytes`). */
const COMMIT_BATCH_BYTES = 16 * 1024 * 1024
const MAX_REJECTED_FILES = 1000

/**
 * A resource waiting in a group: its serialised JSON as UTF-8 bytes and its hashes only (not the
 * parsed object, several times larger). Bytes live outside the JavaScript heap, so a full buffer
 * does not make the collector let the heap grow to a multiple of it.
 */
interface Pending {
  keyHash: string
  contentHash: string
  json: Buffer
}

const NEWLINE = Buffer.from('\n')
const RELEASED = Buffer.alloc(0)

interface Group {
  subject: string | null
  dataClass: DataClass
  items: Pending[]
  bytes: number
}

/**
 * read -> validate -> normalise -> group -> encrypt -> put -> index, streaming.
 *
 * Each (patient, class) group becomes an age-encrypted record object (NDJSON of its resources)
 * under a fresh object key; the key is wrapped to the custodian. The object's blocks, its index
 * row, its key envelope and the ledger rows of its resources are written in ONE transaction, so a
 * crash leaves either all of them or none, and a re-run skips exactly the resources whose ledger
 * row exists with the same content hash. Memory is bounded by `bufferBytes` of buffered plaintext.
 */
export async function importRecords(options: ImportOptions): Promise<ImportResult> {
  const {db, custodian} = options
  const index = new RecordIndex(db, custodian.address)
  const store = new EmbeddedStore(db)
  const groupBytes = options.groupBytes ?? 4 * 1024 * 1024
  const bufferBytes = options.bufferBytes ?? 64 * 1024 * 1024
  const concurrency = options.concurrency ?? 8
  if (!options.dryRun) index.interruptStaleJobs('import')
  const jobId = options.dryRun ? null : index.startJob('import')
  const counts = {read: 0, imported: 0, duplicates: 0, rejected: 0, objects: 0}
  const patients = new Set<string>()
  // Patients seen and not yet written: their id mappings answer lookups from here, and their rows
  // are written in the transaction of the next commit (one sync to disk for many patients, and
  // never a patient row without the objects that need it). A dry run writes none and keeps all.
  const pendingRefs = new Map<string, string>()
  const pendingSubjects = new Set<string>()
  let pendingPatients: Array<{refHash: string; subject: string; identifierEnc?: Uint8Array}> = []
  const writePendingPatients = (): void => {
    for (const {refHash, subject, identifierEnc} of pendingPatients) {
      if (identifierEnc) index.upsertSubject(subject, identifierEnc)
      index.mapPatientRef(refHash, subject)
    }
  }
  const patientsWritten = (): void => {
    for (const {refHash, subject} of pendingPatients) {
      pendingRefs.delete(refHash)
      pendingSubjects.delete(subject)
    }
    pendingPatients = []
  }
  // Duplicates within this run: what is committed is found in the ledger (an indexed lookup per
  // resource); only what is buffered and not yet committed is held here, so this set is bounded by
  // `bufferBytes` like the groups. A dry run commits nothing, so it keeps every key it saw.
  const pendingKeys = new Set<string>()
  const groups = new Map<string, Group>()
  let buffered = 0
  const report = new RejectReport(options.reportPath)
  let batchNumber = 0
  const appendAudit = async (event: ImportAuditEvent): Promise<void> => {
    try {
      await options.audit?.(event)
    } catch (error) {
      if (error instanceof MedctlError) throw error
      throw new MedctlError(
        'E_AUDIT_WRITE',
        'The import audit entry could not be appended, so nothing more was committed: the records already committed each have their entry. Repair the audit log, then run the import again.',
        {cause: error},
      )
    }
  }

  // Reports hold codes, locations and keyed hashes only: a file name may carry a patient's name, an
  // id an MRN. The caller gets the file behind each reference in the result (stdout, not the home).
  const keyed = (domain: string, value: string): string =>
    createHmac('sha256', custodian.pseudonymKey).update(`medctl:report-${domain}:${value}`, 'utf8').digest('hex').slice(0, 16)
  const rejectedFiles = new Map<string, RejectedSource>()
  const fileRef = (file: string): string => {
    if (file === '-') return 'stdin'
    const path = resolvePath(file)
    const ref = `file:${keyed('file', path)}`
    const known = rejectedFiles.get(ref)
    if (known) known.rejected++
    else if (rejectedFiles.size < MAX_REJECTED_FILES) rejectedFiles.set(ref, {ref, path: file, rejected: 1})
    return ref
  }
  const listRejects = Boolean(options.dryRun) && !options.reportPath
  const listed: NonNullable<ImportResult['rejects']> = []
  const reject = (item: Omit<RejectRecord, 'file'> & {file?: string}): void => {
    counts.rejected++
    const {file, id, resourceType, line, entry, entryPath, code, message} = item
    if (listRejects && listed.length < 10_000)
      listed.push({file: file ?? '-', ...(line === undefined ? {} : {line}), ...(entry === undefined ? {} : {entry}), code})
    report.write({
      file: fileRef(file ?? '-'),
      ...(line === undefined ? {} : {line}),
      ...(entry === undefined ? {} : {entry}),
      ...(entryPath === undefined ? {} : {entryPath}),
      ...(resourceType === undefined ? {} : {resourceType}),
      ...(id === undefined ? {} : {id: `id:${keyed('id', `${resourceType ?? ''}/${id}`)}`}),
      code,
      message,
    })
  }

  /** Encrypts a group into an object (no writes): the part that runs concurrently. */
  const seal = async (group: Group) => {
    // The resources' JSON, one per line (the same bytes as their UTF-8 joined by newlines).
    let plaintext: Buffer | undefined = Buffer.concat(group.items.flatMap((p) => [p.json, NEWLINE]))
    // Only the sizes and hashes are needed from here on: the JSON is let go as soon as it is sealed.
    for (const p of group.items) p.json = RELEASED
    const plainBytes = plaintext.length
    const objectKey = await newObjectKey()
    const ciphertext = await encryptObject(plaintext, objectKey.recipient)
    plaintext = undefined
    const envelope = await wrapKey(objectKey.identity, [custodian.recipient])
    const prepared = await store.prepare(ciphertext)
    return {group, plainBytes, cipherBytes: ciphertext.length, envelope, prepared}
  }

  /** Blocks, object rows, envelopes and ledger rows of a batch of objects: one transaction. */
  const commit = (batch: Array<Awaited<ReturnType<typeof seal>>>): void => {
    db.transaction(() => {
      writePendingPatients()
      for (const {group, plainBytes, cipherBytes, envelope, prepared} of batch) {
        store.writeBlocksSync(prepared.blocks)
        index.insertObject({
          cid: prepared.cid,
          subject: group.subject,
          class: group.dataClass,
          resources: group.items.length,
          plainBytes,
          cipherBytes,
          jobId,
          envelope: {recipient: custodian.recipient, bytes: envelope},
          ledger: group.items.map((p) => ({keyHash: p.keyHash, contentHash: p.contentHash})),
        })
      }
    })()
    patientsWritten()
    for (const {group} of batch) counts.imported += group.items.length
    counts.objects += batch.length
  }

  /** The write-ahead audit entry of a batch: appended (and fsynced) before the batch is committed. */
  const auditIntent = async (batch: Array<Awaited<ReturnType<typeof seal>>>): Promise<void> => {
    if (!options.audit) return
    batchNumber++
    await appendAudit({
      outcome: 'success',
      cids: batch.map((b) => b.prepared.cid),
      classes: [...new Set(batch.map((b) => b.group.dataClass))].sort(),
      detail: {
        phase: 'intent',
        job: jobId ?? 0,
        batch: batchNumber,
        objects: batch.length,
        resources: batch.reduce((n, b) => n + b.group.items.length, 0),
      },
    })
  }

  /** Flushes groups into objects, encrypting up to `concurrency` at a time (WebCrypto runs off the main thread). */
  const flushGroups = async (keys: string[]): Promise<void> => {
    const batch: Group[] = []
    for (const key of keys) {
      const group = groups.get(key)
      if (!group) continue
      groups.delete(key)
      buffered -= group.bytes
      batch.push(group)
    }
    if (options.dryRun) {
      for (const group of batch) counts.imported += group.items.length
      return
    }
    for (let start = 0; start < batch.length;) {
      // A commit takes up to COMMIT_BATCH objects and about COMMIT_BATCH_BYTES of plaintext (at least one object).
      let end = start
      let partBytes = 0
      while (
        end < batch.length &&
        end - start < COMMIT_BATCH &&
        (end === start || partBytes + (batch[end] as Group).bytes <= COMMIT_BATCH_BYTES)
      )
        partBytes += (batch[end++] as Group).bytes
      const part = batch.slice(start, end)
      start = end
      const sealed: Array<Awaited<ReturnType<typeof seal>>> = []
      for (let i = 0; i < part.length; i += concurrency)
        sealed.push(...(await Promise.all(part.slice(i, i + concurrency).map((group) => seal(group)))))
      await auditIntent(sealed)
      commit(sealed)
      // Committed: the ledger answers for these resources from now on.
      for (const group of part) for (const p of group.items) pendingKeys.delete(`${p.keyHash}:${p.contentHash}`)
    }
  }

  const flush = (key: string): Promise<void> => flushGroups([key])
  const flushAll = (): Promise<void> => flushGroups([...groups.keys()])

  // A patient's resources come together: their subject is remembered by patient id (a bounded map;
  // a binding never changes once made, see E_PATIENT_ID_CONFLICT), not looked up (HMAC + query) each time.
  const knownRefs = new Map<string, string>()
  const subjectOfPatientId = (patientId: string): string | undefined => {
    const known = knownRefs.get(patientId)
    if (known) return known
    const refHash = indexHash(custodian.pseudonymKey, 'ref', `Patient/${patientId}`)
    const subject = pendingRefs.get(refHash) ?? index.subjectForRef(refHash)
    if (subject) {
      if (knownRefs.size >= 10_000) knownRefs.clear()
      knownRefs.set(patientId, subject)
    }
    return subject
  }

  const subjectFor = async (resource: FhirResource, location: InputItem['location']): Promise<{subject: string | null} | undefined> => {
    if (resource.resourceType === 'Patient') {
      const identifierKey = patientKeyOf(resource)
      if (!identifierKey) {
        reject({
          ...location,
          resourceType: 'Patient',
          id: resource.id,
          code: 'E_NO_PATIENT_IDENTIFIER',
          message: 'The Patient has no identifier (system|value) to key it by.',
        })
        return undefined
      }
      const subject = subjectOf(custodian.pseudonymKey, identifierKey)
      if (index.erasedAt(subject)) {
        // An erased patient stays erased: re-importing an old copy never brings them back.
        reject({
          ...location,
          resourceType: 'Patient',
          id: resource.id,
          code: 'E_ERASED',
          message: "This patient's records were erased; their data is not imported again.",
        })
        return undefined
      }
      const refHash = indexHash(custodian.pseudonymKey, 'ref', `Patient/${resource.id ?? identifierKey}`)
      const bound = pendingRefs.get(refHash) ?? index.subjectForRef(refHash)
      if (resource.id !== undefined && bound !== undefined && bound !== subject) {
        reject({
          ...location,
          resourceType: 'Patient',
          id: resource.id,
          code: 'E_PATIENT_ID_CONFLICT',
          message:
            'A Patient with this id and a different identifier was imported before: one id never stands for two patients (the first one stays).',
        })
        return undefined
      }
      if (bound === undefined) {
        pendingRefs.set(refHash, subject)
        if (!options.dryRun) {
          const known = pendingSubjects.has(subject) || index.hasSubject(subject)
          const identifierEnc = known ? undefined : await encryptText(identifierKey, custodian.recipient)
          pendingSubjects.add(subject)
          pendingPatients.push({refHash, subject, ...(identifierEnc ? {identifierEnc} : {})})
        }
      }
      return {subject}
    }
    if (isReferenceData(resource)) return {subject: null}
    const patientId = patientRefOf(resource)
    if (!patientId) return {subject: null}
    const subject = subjectOfPatientId(patientId)
    if (!subject) {
      reject({
        ...location,
        resourceType: resource.resourceType,
        id: resource.id,
        code: 'E_UNKNOWN_PATIENT',
        message: 'The Patient it belongs to is neither in this import nor imported before.',
      })
      return undefined
    }
    return {subject}
  }

  const finish = async (status: JobStatus, outcome: ImportAuditEvent): Promise<void> => {
    if (jobId === null) return
    try {
      await appendAudit(outcome)
    } finally {
      index.finishJob(jobId, status, {...counts, patients: patients.size})
    }
  }

  const threads = options.validationThreads ?? defaultValidationThreads()
  const validator = threads > 0 ? ValidationPool.shared(threads) : undefined
  try {
    for await (const item of readInputs(options.sources, {
      mapping: options.mapping,
      maxLineBytes: options.maxLineBytes,
      maxJsonBytes: options.maxJsonBytes,
      localBases: options.localBases,
      validator,
    })) {
      counts.read++
      if (counts.read % 1000 === 0) options.onProgress?.({phase: 'importing', done: counts.read, unit: 'resources'})
      if (item.kind === 'reject') {
        reject({...item.location, resourceType: item.resourceType, id: item.id, code: item.code, message: item.message})
        continue
      }
      const {resource} = item
      // A validation thread already serialised and digested it; the inline path does it here.
      const json = item.json ?? JSON.stringify(resource)
      const contentHash = item.digest ?? createHash('sha256').update(canonicalJson(resource)).digest('hex')
      const keyHash = indexHash(custodian.pseudonymKey, 'resource', item.key)
      const seenKey = `${keyHash}:${contentHash}`
      if (pendingKeys.has(seenKey) || index.hasImported(keyHash, contentHash)) {
        counts.duplicates++
        continue
      }
      const owner = await subjectFor(resource, item.location)
      if (!owner) continue
      pendingKeys.add(seenKey)
      if (owner.subject) patients.add(owner.subject)
      const dataClass = classOf(resource)
      const groupKey = `${owner.subject ?? 'reference'}|${dataClass}`
      let group = groups.get(groupKey)
      if (!group) {
        group = {subject: owner.subject, dataClass, items: [], bytes: 0}
        groups.set(groupKey, group)
      }
      // Sizes stay counted in UTF-16 code units (json.length), as before: the same groups flush at the same points.
      group.items.push({keyHash, contentHash, json: Buffer.from(json, 'utf8')})
      group.bytes += json.length
      buffered += json.length
      if (group.bytes >= groupBytes) await flush(groupKey)
      if (buffered >= bufferBytes) await flushAll()
    }
    await flushAll()
    if (!options.dryRun && pendingPatients.length > 0) {
      db.transaction(writePendingPatients)()
      patientsWritten()
    }
  } catch (error) {
    report.close()
    const code = error instanceof MedctlError ? error.code : 'E_UNEXPECTED'
    // The job ends marked failed whatever happened; the failure entry is best effort (the audit
    // log itself may be what failed).
    await finish('failed', {
      outcome: 'failure',
      detail: {phase: 'failed', job: jobId ?? 0, code, ...counts, patients: patients.size},
    }).catch(() => undefined)
    throw error
  }
  report.close()
  const status = counts.rejected > 0 ? 'partial' : 'done'
  await finish(status, {
    outcome: counts.rejected > 0 ? 'failure' : 'success',
    detail: {phase: 'finished', job: jobId ?? 0, status, ...counts, patients: patients.size},
  })
  options.onProgress?.({phase: 'imported', done: counts.read, unit: 'resources'})
  return {
    ...counts,
    patients: patients.size,
    report: report.path,
    dryRun: Boolean(options.dryRun),
    jobId,
    rejectedFiles: [...rejectedFiles.values()],
    ...(listRejects ? {rejects: listed} : {}),
  }
}
