import type {DataClass} from '../fhir/data-classes.js'
import {statement, type Db} from '../db/database.js'

export interface SubjectRow {
  subject: string
  identifierEnc: Buffer
  createdAt: string
}

export interface ObjectRow {
  cid: string
  subject: string | null
  class: DataClass
  resources: number
  plainBytes: number
  cipherBytes: number
  jobId: number | null
  createdAt: string
  /** A large file (`records attach`): age ciphertext of the file itself, not NDJSON records. */
  attachment?: true
}

export interface AttachmentRow {
  cid: string
  subject: string
  class: DataClass
  /** Keyed hash of the file's SHA-256 (idempotency key; the hash itself is not stored). */
  contentKey: string
  size: number
  contentType: string
  /** The record object holding the attachment's DocumentReference. */
  recordCid: string
  createdAt: string
}

/** Which objects a listing includes: record objects only (the default, what readers decrypt as NDJSON), all, or attachments only. */
export type AttachmentFilter = 'exclude' | 'include' | 'only'

export interface NewObject {
  cid: string
  subject: string | null
  class: DataClass
  resources: number
  plainBytes: number
  cipherBytes: number
  jobId: number | null
  /** The object key wrapped to the custodian's age recipient. */
  envelope: {recipient: string; bytes: Uint8Array}
  /** What each input resource became: the ledger rows committed with the object. */
  ledger: Array<{keyHash: string; contentHash: string}>
}

/** 'interrupted': a job found still running when the next one of its kind started (its process was killed). */
export type JobStatus = 'running' | 'done' | 'partial' | 'failed' | 'interrupted'

/**
 * The record index of one custodian (rows are scoped by its address). Synchronous, so callers can
 * compose its writes with the embedded store's block writes in one `db.transaction`.
 */
export class RecordIndex {
  readonly custodian: string

  constructor(
    readonly db: Db,
    custodianAddress: string,
  ) {
    this.custodian = custodianAddress.toLowerCase()
  }

  upsertSubject(subject: string, identifierEnc: Uint8Array): boolean {
    const info = statement(
      this.db,
      'INSERT OR IGNORE INTO subjects (custodian, subject, identifier_enc, created_at) VALUES (?, ?, ?, ?)',
    ).run(this.custodian, subject, Buffer.from(identifierEnc), new Date().toISOString())
    return info.changes > 0
  }

  /** When the subject was erased (crypto-shredded), or undefined. The tombstone holds the pseudonym only. */
  erasedAt(subject: string): string | undefined {
    ensureErasedTable(this.db)
    const row = statement(this.db, 'SELECT erased_at FROM erased_subjects WHERE custodian = ? AND subject = ?').get(
      this.custodian,
      subject,
    ) as {erased_at: string} | undefined
    return row?.erased_at
  }

  /** Records the erasure of a subject (call inside the erasing transaction). */
  markErased(subject: string, at: string): void {
    ensureErasedTable(this.db)
    this.db
      .prepare('INSERT OR IGNORE INTO erased_subjects (custodian, subject, erased_at) VALUES (?, ?, ?)')
      .run(this.custodian, subject, at)
  }

  hasSubject(subject: string): boolean {
    return Boolean(statement(this.db, 'SELECT 1 FROM subjects WHERE custodian = ? AND subject = ?').get(this.custodian, subject))
  }

  subjects(): SubjectRow[] {
    return (
      this.db
        .prepare('SELECT subject, identifier_enc, created_at FROM subjects WHERE custodian = ? ORDER BY subject')
        .all(this.custodian) as Array<{subject: string; identifier_enc: Buffer; created_at: string}>
    ).map((r) => ({subject: r.subject, identifierEnc: r.identifier_enc, createdAt: r.created_at}))
  }

  mapPatientRef(refHash: string, subject: string): void {
    statement(this.db, 'INSERT OR REPLACE INTO patient_refs (custodian, ref_hash, subject) VALUES (?, ?, ?)').run(
      this.custodian,
      refHash,
      subject,
    )
  }

  subjectForRef(refHash: string): string | undefined {
    const row = statement(this.db, 'SELECT subject FROM patient_refs WHERE custodian = ? AND ref_hash = ?').get(this.custodian, refHash) as
      {subject: string} | undefined
    return row?.subject
  }

  /** Whether this exact version of a resource (key and content) was imported before. */
  hasImported(keyHash: string, contentHash: string): boolean {
    return Boolean(
      statement(this.db, 'SELECT 1 FROM ledger WHERE custodian = ? AND key_hash = ? AND content_hash = ?').get(
        this.custodian,
        keyHash,
        contentHash,
      ),
    )
  }

  /** Writes the object row, its custodian envelope and its ledger rows. Call inside a transaction. */
  insertObject(object: NewObject): void {
    const now = new Date().toISOString()
    statement(
      this.db,
      'INSERT OR IGNORE INTO objects (custodian, cid, subject, class, resources, plain_bytes, cipher_bytes, job_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      this.custodian,
      object.cid,
      object.subject,
      object.class,
      object.resources,
      object.plainBytes,
      object.cipherBytes,
      object.jobId,
      now,
    )
    this.putEnvelope(object.cid, object.envelope.recipient, object.envelope.bytes)
    const ledger = statement(
      this.db,
      'INSERT OR IGNORE INTO ledger (custodian, key_hash, content_hash, subject, class, cid, job_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    for (const row of object.ledger)
      ledger.run(this.custodian, row.keyHash, row.contentHash, object.subject, object.class, object.cid, object.jobId)
  }

  putEnvelope(cid: string, recipient: string, envelope: Uint8Array): void {
    statement(this.db, 'INSERT OR REPLACE INTO key_envelopes (cid, recipient, envelope, created_at) VALUES (?, ?, ?, ?)').run(
      cid,
      recipient,
      Buffer.from(envelope),
      new Date().toISOString(),
    )
  }

  envelope(cid: string, recipient: string): Buffer | undefined {
    const row = this.db.prepare('SELECT envelope FROM key_envelopes WHERE cid = ? AND recipient = ?').get(cid, recipient) as
      {envelope: Buffer} | undefined
    return row?.envelope
  }

  objects(filter: {subject?: string | null; classes?: readonly DataClass[]; attachments?: AttachmentFilter} = {}): ObjectRow[] {
    const where = ['o.custodian = ?']
    const params: unknown[] = [this.custodian]
    const attachments = filter.attachments ?? 'exclude'
    if (attachments === 'exclude') where.push('a.cid IS NULL')
    if (attachments === 'only') where.push('a.cid IS NOT NULL')
    if (filter.subject !== undefined) {
      if (filter.subject === null) where.push('o.subject IS NULL')
      else {
        where.push('o.subject = ?')
        params.push(filter.subject)
      }
    }
    if (filter.classes && filter.classes.length > 0) {
      where.push(`o.class IN (${filter.classes.map(() => '?').join(', ')})`)
      params.push(...filter.classes)
    }
    const rows = this.db
      .prepare(
        `SELECT o.cid, o.subject, o.class, o.resources, o.plain_bytes, o.cipher_bytes, o.job_id, o.created_at, a.cid AS attachment FROM objects o LEFT JOIN attachments a ON a.custodian = o.custodian AND a.cid = o.cid WHERE ${where.join(' AND ')} ORDER BY o.subject, o.class, o.created_at, o.cid`,
      )
      .all(...params) as Array<{
      cid: string
      subject: string | null
      class: DataClass
      resources: number
      plain_bytes: number
      cipher_bytes: number
      job_id: number | null
      created_at: string
      attachment: string | null
    }>
    return rows.map((r) => ({
      cid: r.cid,
      subject: r.subject,
      class: r.class,
      resources: r.resources,
      plainBytes: r.plain_bytes,
      cipherBytes: r.cipher_bytes,
      jobId: r.job_id,
      createdAt: r.created_at,
      ...(r.attachment ? {attachment: true as const} : {}),
    }))
  }

  /** Records an attachment: its object row (with the custodian's envelope) and its attachments row. Call inside a transaction. */
  insertAttachment(row: Omit<AttachmentRow, 'createdAt'> & {cipherBytes: number; envelope: {recipient: string; bytes: Uint8Array}}): void {
    const now = new Date().toISOString()
    this.db
      .prepare(
        'INSERT OR IGNORE INTO objects (custodian, cid, subject, class, resources, plain_bytes, cipher_bytes, job_id, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, NULL, ?)',
      )
      .run(this.custodian, row.cid, row.subject, row.class, row.size, row.cipherBytes, now)
    this.putEnvelope(row.cid, row.envelope.recipient, row.envelope.bytes)
    this.db
      .prepare(
        'INSERT OR IGNORE INTO attachments (custodian, cid, subject, class, content_key, size, content_type, record_cid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(this.custodian, row.cid, row.subject, row.class, row.contentKey, row.size, row.contentType, row.recordCid, now)
  }

  /** The attachment of this content for this subject and class, if attached before. */
  attachmentFor(subject: string, dataClass: DataClass, contentKey: string): AttachmentRow | undefined {
    const r = this.db
      .prepare(
        'SELECT cid, subject, class, content_key, size, content_type, record_cid, created_at FROM attachments WHERE custodian = ? AND subject = ? AND class = ? AND content_key = ?',
      )
      .get(this.custodian, subject, dataClass, contentKey) as
      | {
          cid: string
          subject: string
          class: DataClass
          content_key: string
          size: number
          content_type: string
          record_cid: string
          created_at: string
        }
      | undefined
    return (
      r && {
        cid: r.cid,
        subject: r.subject,
        class: r.class,
        contentKey: r.content_key,
        size: r.size,
        contentType: r.content_type,
        recordCid: r.record_cid,
        createdAt: r.created_at,
      }
    )
  }

  /** Resource counts per subject and class, from the ledger (each resource once, whatever its versions). */
  resourceCounts(): Array<{subject: string | null; class: DataClass; resources: number}> {
    return this.db
      .prepare(
        'SELECT subject, class, COUNT(DISTINCT key_hash) AS resources FROM ledger WHERE custodian = ? GROUP BY subject, class ORDER BY subject, class',
      )
      .all(this.custodian) as Array<{
      subject: string | null
      class: DataClass
      resources: number
    }>
  }

  startJob(kind: string): number {
    const info = this.db
      .prepare('INSERT INTO jobs (custodian, kind, status, started_at) VALUES (?, ?, ?, ?)')
      .run(this.custodian, kind, 'running', new Date().toISOString())
    return Number(info.lastInsertRowid)
  }

  /**
   * Marks the jobs of a kind still 'running' as 'interrupted' (a kill -9 leaves no chance to
   * finish them); a job that is in fact alive overwrites this when it finishes.
   */
  interruptStaleJobs(kind: string): number {
    return this.db
      .prepare("UPDATE jobs SET status = 'interrupted', finished_at = ? WHERE custodian = ? AND kind = ? AND status = 'running'")
      .run(new Date().toISOString(), this.custodian, kind).changes
  }

  finishJob(id: number, status: JobStatus, counts: Record<string, number>): void {
    this.db
      .prepare('UPDATE jobs SET status = ?, finished_at = ?, counts = ? WHERE id = ?')
      .run(status, new Date().toISOString(), JSON.stringify(counts), id)
  }

  markUploaded(cid: string, target: string, bytes: number): void {
    this.db
      .prepare('INSERT OR REPLACE INTO uploads (custodian, cid, target, bytes, uploaded_at) VALUES (?, ?, ?, ?, ?)')
      .run(this.custodian, cid, target, bytes, new Date().toISOString())
  }

  isUploaded(cid: string, target: string): boolean {
    return Boolean(this.db.prepare('SELECT 1 FROM uploads WHERE custodian = ? AND cid = ? AND target = ?').get(this.custodian, cid, target))
  }
}

const erasedTables = new WeakSet<Db>()

/** The tombstones of erased subjects (pseudonym and time only), created on first use. */
function ensureErasedTable(db: Db): void {
  if (erasedTables.has(db)) return
  db.exec(
    'CREATE TABLE IF NOT EXISTS erased_subjects (custodian TEXT NOT NULL, subject TEXT NOT NULL, erased_at TEXT NOT NULL, PRIMARY KEY (custodian, subject))',
  )
  erasedTables.add(db)
}
