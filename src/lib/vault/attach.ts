import {createHash, createHmac} from 'node:crypto'
import {createReadStream, statSync} from 'node:fs'
import {basename} from 'node:path'
import {ExitCode, MedctlError} from '../core/errors.js'
import type {ProgressEvent} from '../core/progress.js'
import type {Db} from '../db/database.js'
import {isDataClass, type DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import {EmbeddedStore} from '../ipfs/index.js'
import {encryptObject, encryptObjectStream, newObjectKey, wrapKey} from './crypto.js'
import {indexHash} from './pseudonym.js'
import {patientIdentifierKey, subjectForPatient} from './read.js'
import {RecordIndex} from './record-index.js'
import {canonicalJson} from '../fhir/canonical-json.js'

/**
 * Where a DocumentReference made by `records attach` carries what FHIR R4's Attachment cannot:
 * R4 `Attachment.hash` is SHA-1 (base64) and `Attachment.size` an unsignedInt (< 2 GiB), so the
 * SHA-256, the exact size and the CID of the stored (age-encrypted) content are extensions on
 * `content[0].attachment`.
 */
export const ATTACHMENT_EXTENSION = {
  sha256: 'https://medctl.dev/fhir/StructureDefinition/attachment-sha256',
  cid: 'https://medctl.dev/fhir/StructureDefinition/attachment-cid',
  size: 'https://medctl.dev/fhir/StructureDefinition/attachment-size',
} as const

/** The largest value FHIR R4's unsignedInt (Attachment.size) holds. */
const MAX_UNSIGNED_INT = 2_147_483_647
const READ_CHUNK = 1024 * 1024

export interface AttachmentInfo {
  /** The DocumentReference's id. */
  documentReference: string
  /** CID of the age-encrypted file in the content store. */
  cid: string
  sha256: string
  size: number
  contentType: string
  title?: string
}

/** What a DocumentReference made by `records attach` says about its file, or undefined for any other resource. */
export function attachmentOf(resource: FhirResource): AttachmentInfo | undefined {
  if (resource.resourceType !== 'DocumentReference') return undefined
  const content = (
    resource as {
      content?: Array<{
        attachment?: {contentType?: string; title?: string; extension?: Array<{url?: string; valueString?: string; valueDecimal?: number}>}
      }>
    }
  ).content
  const attachment = content?.[0]?.attachment
  const ext = (url: string) => attachment?.extension?.find((e) => e.url === url)
  const cid = ext(ATTACHMENT_EXTENSION.cid)?.valueString
  const sha256 = ext(ATTACHMENT_EXTENSION.sha256)?.valueString
  const size = ext(ATTACHMENT_EXTENSION.size)?.valueDecimal
  if (
    !attachment ||
    !cid ||
    !sha256 ||
    !/^[0-9a-f]{64}$/.test(sha256) ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(size) ||
    size < 0
  )
    return undefined
  return {
    documentReference: String(resource.id),
    cid,
    sha256,
    size,
    contentType: attachment.contentType ?? 'application/octet-stream',
    ...(attachment.title ? {title: attachment.title} : {}),
  }
}

export interface AttachOptions {
  db: Db
  custodian: {address: string; recipient: string; pseudonymKey: Uint8Array}
  file: string
  patient: string
  dataClass: string
  contentType?: string
  /** Write-ahead audit: the intent before anything is stored (a rerun of a done attach writes none). */
  audit?: (event: {phase: 'intent'; subject: string}) => Promise<void>
  onProgress?: (event: ProgressEvent) => void
}

export interface AttachResult extends AttachmentInfo {
  subject: string
  class: DataClass
  /** The record object holding the DocumentReference. */
  recordCid: string
  /** False when this file was attached to this patient and class before (nothing new was stored). */
  created: boolean
}

function fileNotFound(file: string, why: string): MedctlError {
  return new MedctlError('E_FILE_NOT_FOUND', `Cannot read ${file} (${why}).`, {
    exitCode: ExitCode.USAGE,
    suggestions: ['Name an existing regular file.'],
  })
}

/** The file's bytes, read afresh in 1 MiB chunks; every chunk also goes through `observe`. */
async function* readFile(file: string, observe: (chunk: Buffer) => void): AsyncGenerator<Uint8Array> {
  const stream = createReadStream(file, {highWaterMark: READ_CHUNK})
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      observe(chunk)
      yield chunk
    }
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw fileNotFound(file, code)
    throw error
  } finally {
    stream.destroy()
  }
}

/** Guesses a MIME type from the extension; anything unknown is application/octet-stream. */
export function contentTypeFor(file: string): string {
  const ext = file.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? ''
  const known: Record<string, string> = {
    dcm: 'application/dicom',
    zip: 'application/zip',
    pdf: 'application/pdf',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    png: 'image/png',
    tif: 'image/tiff',
    tiff: 'image/tiff',
    txt: 'text/plain',
    xml: 'application/xml',
    json: 'application/json',
    gz: 'application/gzip',
    mp4: 'video/mp4',
  }
  return known[ext] ?? 'application/octet-stream'
}

/**
 * `records attach`: a file of any size, age-encrypted as it streams (STREAM, 64 KiB chunks) into
 * the home's blocks (chunked UnixFS, 256 KiB blocks, a few per transaction), with bounded memory.
 *
 * Pass 1 hashes the file (SHA-256): if this patient already has it under this class, the existing
 * attachment is returned and nothing is written (idempotent). Pass 2 encrypts it under a fresh
 * object key while computing SHA-256 and SHA-1 again (a file that changed between the passes is
 * refused, E_FILE_CHANGED). Then the DocumentReference that links the file to the patient is
 * sealed as a record object of the chosen class, and ONE transaction writes that object (blocks,
 * row, envelope, ledger row) with the attachment's row and envelope: a crash before it leaves only
 * unreferenced ciphertext blocks whose key was never stored.
 */
export async function attachFile(options: AttachOptions): Promise<AttachResult> {
  const {db, custodian} = options
  if (!isDataClass(options.dataClass)) throw new MedctlError('E_BAD_CLASS', 'Unknown data class.', {exitCode: ExitCode.USAGE})
  const dataClass: DataClass = options.dataClass
  const index = new RecordIndex(db, custodian.address)
  const identifierKey = patientIdentifierKey(options.patient)
  const subject = subjectForPatient({db, address: custodian.address, pseudonymKey: Buffer.from(custodian.pseudonymKey)}, options.patient)
  if (!index.hasSubject(subject))
    throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient: import the patient first.', {exitCode: ExitCode.USAGE})
  let size: number
  try {
    const stat = statSync(options.file)
    if (!stat.isFile()) throw fileNotFound(options.file, 'not a regular file')
    size = stat.size
  } catch (error) {
    if (error instanceof MedctlError) throw error
    throw fileNotFound(options.file, (error as {code?: string}).code ?? 'unreadable')
  }
  const progress = (phase: string, done: number): void => options.onProgress?.({phase, done, total: size, unit: 'bytes'})

  // Pass 1: the file's SHA-256, to find an earlier attach of the same content.
  const first = createHash('sha256')
  let read = 0
  for await (const chunk of readFile(options.file, (c) => first.update(c))) {
    read += chunk.length
    progress('hashing', read)
  }
  const sha256 = first.digest('hex')
  const contentKey = createHmac('sha256', custodian.pseudonymKey).update(`medctl:attachment:${sha256}`, 'utf8').digest('hex')
  const documentReference = `medctl-att-${createHmac('sha256', custodian.pseudonymKey).update(`medctl:attachment-id:${subject}|${dataClass}|${sha256}`, 'utf8').digest('hex').slice(0, 40)}`
  const existing = index.attachmentFor(subject, dataClass, contentKey)
  if (existing) {
    return {
      subject,
      class: dataClass,
      documentReference,
      cid: existing.cid,
      recordCid: existing.recordCid,
      sha256,
      size: existing.size,
      contentType: existing.contentType,
      created: false,
    }
  }

  await options.audit?.({phase: 'intent', subject})

  // Pass 2: encrypt while streaming into the store.
  const store = new EmbeddedStore(db)
  const objectKey = await newObjectKey()
  const second = createHash('sha256')
  const sha1 = createHash('sha1')
  let plainBytes = 0
  const plaintext = readFile(options.file, (chunk) => {
    second.update(chunk)
    sha1.update(chunk)
    plainBytes += chunk.length
    progress('encrypting', plainBytes)
  })
  const stored = await store.addStream(encryptObjectStream(plaintext, objectKey.recipient))
  if (second.digest('hex') !== sha256 || plainBytes !== size) {
    throw new MedctlError('E_FILE_CHANGED', `${options.file} changed while it was being attached; nothing was linked to the patient.`, {
      exitCode: ExitCode.FAILURE,
      suggestions: ['Attach it again once nothing writes to it.'],
    })
  }
  const contentType = options.contentType ?? contentTypeFor(options.file)
  const [system, ...rest] = identifierKey.split('|')
  const resource: FhirResource = {
    resourceType: 'DocumentReference',
    id: documentReference,
    status: 'current',
    subject: {type: 'Patient', identifier: {system, value: rest.join('|')}},
    date: new Date().toISOString(),
    content: [
      {
        attachment: {
          extension: [
            {url: ATTACHMENT_EXTENSION.sha256, valueString: sha256},
            {url: ATTACHMENT_EXTENSION.size, valueDecimal: size},
            {url: ATTACHMENT_EXTENSION.cid, valueString: stored.cid},
          ],
          contentType,
          ...(size <= MAX_UNSIGNED_INT ? {size} : {}),
          hash: sha1.digest('base64'),
          title: basename(options.file),
        },
      },
    ],
  }

  // The DocumentReference, as a record object of the chosen class (one resource).
  const json = JSON.stringify(resource)
  const recordPlain = Buffer.from(`${json}\n`, 'utf8')
  const recordKey = await newObjectKey()
  const recordCipher = await encryptObject(recordPlain, recordKey.recipient)
  const prepared = await store.prepare(recordCipher)
  const recordEnvelope = await wrapKey(recordKey.identity, [custodian.recipient])
  const attachmentEnvelope = await wrapKey(objectKey.identity, [custodian.recipient])
  const keyHash = indexHash(custodian.pseudonymKey, 'resource', `DocumentReference/${documentReference}`)
  const contentHash = createHash('sha256').update(canonicalJson(resource)).digest('hex')
  db.transaction(() => {
    store.writeBlocksSync(prepared.blocks)
    index.insertObject({
      cid: prepared.cid,
      subject,
      class: dataClass,
      resources: 1,
      plainBytes: recordPlain.length,
      cipherBytes: recordCipher.length,
      jobId: null,
      envelope: {recipient: custodian.recipient, bytes: recordEnvelope},
      ledger: [{keyHash, contentHash}],
    })
    index.insertAttachment({
      cid: stored.cid,
      subject,
      class: dataClass,
      contentKey,
      size,
      contentType,
      recordCid: prepared.cid,
      cipherBytes: stored.size,
      envelope: {recipient: custodian.recipient, bytes: attachmentEnvelope},
    })
  })()
  return {
    subject,
    class: dataClass,
    documentReference,
    cid: stored.cid,
    recordCid: prepared.cid,
    sha256,
    size,
    contentType,
    title: basename(options.file),
    created: true,
  }
}
