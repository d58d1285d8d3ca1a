import {createHash} from 'node:crypto'
import canonicalize from 'canonicalize'
import type {DataClass} from '../fhir/data-classes.js'
import {classOf, isReferenceData, patientKeyOf, patientRefOf, readInputs, type CsvMapping, type FhirResource, type InputItem} from '../fhir/index.js'
import {EmbeddedStore} from '../ipfs/index.js'
import {encryptObject, encryptText, newObjectKey, wrapKey} from './crypto.js'
import type {Db} from './database.js'
import {indexHash, subjectOf} from './pseudonym.js'
import {RecordIndex} from './record-index.js'
import {RejectReport, type RejectRecord} from '../fhir/reject-report.js'

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
  onProgress?: (event: {phase: string; done: number; unit: string}) => void
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
}


interface Pending {
  resource: FhirResource
  keyHash: string
  contentHash: string
  json: string
}

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
  const jobId = options.dryRun ? null : index.startJob('import')
  const counts = {read: 0, imported: 0, duplicates: 0, rejected: 0, objects: 0}
  const patients = new Set<string>()
  const dryRunRefs = new Map<string, string>()
  const seenThisRun = new Set<string>()
  const groups = new Map<string, Group>()
  let buffered = 0
  const report = new RejectReport(options.reportPath)

  const reject = (item: Omit<RejectRecord, 'file'> & {file?: string}): void => {
    counts.rejected++
    report.write({file: item.file ?? '-', ...item})
  }

  /** Encrypts a group into an object (no writes): the part that runs concurrently. */
  const seal = async (group: Group) => {
    const plaintext = Buffer.from(group.items.map((p) => p.json).join('\n') + '\n', 'utf8')
    const objectKey = await newObjectKey()
    const ciphertext = await encryptObject(plaintext, objectKey.recipient)
    const envelope = await wrapKey(objectKey.identity, [custodian.recipient])
    const prepared = await store.prepare(ciphertext)
    return {group, plaintext, ciphertext, envelope, prepared}
  }

  /** Blocks, object row, envelope and ledger rows of one object: one transaction. */
  const commit = (sealed: Awaited<ReturnType<typeof seal>>): void => {
    const {group, plaintext, ciphertext, envelope, prepared} = sealed
    db.transaction(() => {
      store.writeBlocksSync(prepared.blocks)
      index.insertObject({
        cid: prepared.cid,
        subject: group.subject,
        class: group.dataClass,
        resources: group.items.length,
        plainBytes: plaintext.length,
        cipherBytes: ciphertext.length,
        jobId,
        envelope: {recipient: custodian.recipient, bytes: envelope},
        ledger: group.items.map((p) => ({keyHash: p.keyHash, contentHash: p.contentHash})),
      })
    })()
    counts.imported += group.items.length
    counts.objects++
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
    for (let i = 0; i < batch.length; i += concurrency) {
      const sealed = await Promise.all(batch.slice(i, i + concurrency).map((group) => seal(group)))
      for (const one of sealed) commit(one)
    }
  }

  const flush = (key: string): Promise<void> => flushGroups([key])
  const flushAll = (): Promise<void> => flushGroups([...groups.keys()])

  const subjectFor = async (resource: FhirResource, location: InputItem['location']): Promise<{subject: string | null} | undefined> => {
    if (resource.resourceType === 'Patient') {
      const identifierKey = patientKeyOf(resource)
      if (!identifierKey) {
        reject({...location, resourceType: 'Patient', id: resource.id, code: 'E_NO_PATIENT_IDENTIFIER', message: 'The Patient has no identifier (system|value) to key it by.'})
        return undefined
      }
      const subject = subjectOf(custodian.pseudonymKey, identifierKey)
      const refHash = indexHash(custodian.pseudonymKey, 'ref', `Patient/${resource.id ?? identifierKey}`)
      if (options.dryRun) dryRunRefs.set(refHash, subject)
      else {
        if (!index.hasSubject(subject)) index.upsertSubject(subject, await encryptText(identifierKey, custodian.recipient))
        index.mapPatientRef(refHash, subject)
      }
      return {subject}
    }
    if (isReferenceData(resource)) return {subject: null}
    const patientId = patientRefOf(resource)
    if (!patientId) return {subject: null}
    const refHash = indexHash(custodian.pseudonymKey, 'ref', `Patient/${patientId}`)
    const subject = dryRunRefs.get(refHash) ?? index.subjectForRef(refHash)
    if (!subject) {
      reject({...location, resourceType: resource.resourceType, id: resource.id, code: 'E_UNKNOWN_PATIENT', message: `Patient/${patientId} is neither in this import nor imported before.`})
      return undefined
    }
    return {subject}
  }

  try {
    for await (const item of readInputs(options.sources, {mapping: options.mapping})) {
      counts.read++
      if (counts.read % 1000 === 0) options.onProgress?.({phase: 'importing', done: counts.read, unit: 'resources'})
      if (item.kind === 'reject') {
        reject({...item.location, resourceType: item.resourceType, id: item.id, code: item.code, message: item.message})
        continue
      }
      const {resource} = item
      const json = JSON.stringify(resource)
      const contentHash = createHash('sha256').update(canonicalize(resource) ?? json).digest('hex')
      const keyHash = indexHash(custodian.pseudonymKey, 'resource', item.key)
      if (seenThisRun.has(`${keyHash}:${contentHash}`) || index.hasImported(keyHash, contentHash)) {
        counts.duplicates++
        continue
      }
      const owner = await subjectFor(resource, item.location)
      if (!owner) continue
      seenThisRun.add(`${keyHash}:${contentHash}`)
      if (owner.subject) patients.add(owner.subject)
      const dataClass = classOf(resource)
      const groupKey = `${owner.subject ?? 'reference'}|${dataClass}`
      let group = groups.get(groupKey)
      if (!group) {
        group = {subject: owner.subject, dataClass, items: [], bytes: 0}
        groups.set(groupKey, group)
      }
      group.items.push({resource, keyHash, contentHash, json})
      group.bytes += json.length
      buffered += json.length
      if (group.bytes >= groupBytes) await flush(groupKey)
      if (buffered >= bufferBytes) await flushAll()
    }
    await flushAll()
  } finally {
    report.close()
  }
  const status = counts.rejected > 0 ? 'partial' : 'done'
  if (jobId !== null) index.finishJob(jobId, status, {...counts, patients: patients.size})
  options.onProgress?.({phase: 'imported', done: counts.read, unit: 'resources'})
  return {...counts, patients: patients.size, report: report.path, dryRun: Boolean(options.dryRun), jobId}
}
