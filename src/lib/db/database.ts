import Database from 'better-sqlite3'
import {fromSystemError} from '../core/errors.js'
import {ensurePrivateDir, type MedctlPaths} from '../config/paths.js'
import {chmodSync, existsSync} from 'node:fs'
import {dirname} from 'node:path'

export type Db = Database.Database

/**
 * The local database: the record index (this file) and the embedded IPFS blocks (ipfs/), so one
 * transaction can write an object's blocks together with the rows that point at them.
 * Holds no plaintext PHI: identifiers are HMAC pseudonyms or age ciphertext.
 * `attachments` marks the objects that are large files (`records attach`) rather than NDJSON
 * records; its content_key is a keyed hash of the file's SHA-256, never the hash itself.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS subjects (
  custodian TEXT NOT NULL,
  subject TEXT NOT NULL,
  identifier_enc BLOB NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (custodian, subject)
);
CREATE TABLE IF NOT EXISTS patient_refs (
  custodian TEXT NOT NULL,
  ref_hash TEXT NOT NULL,
  subject TEXT NOT NULL,
  PRIMARY KEY (custodian, ref_hash)
);
CREATE TABLE IF NOT EXISTS objects (
  custodian TEXT NOT NULL,
  cid TEXT NOT NULL,
  subject TEXT,
  class TEXT NOT NULL,
  resources INTEGER NOT NULL,
  plain_bytes INTEGER NOT NULL,
  cipher_bytes INTEGER NOT NULL,
  job_id INTEGER,
  created_at TEXT NOT NULL,
  PRIMARY KEY (custodian, cid)
);
CREATE INDEX IF NOT EXISTS objects_by_subject ON objects (custodian, subject, class);
CREATE TABLE IF NOT EXISTS key_envelopes (
  cid TEXT NOT NULL,
  recipient TEXT NOT NULL,
  envelope BLOB NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (cid, recipient)
);
CREATE TABLE IF NOT EXISTS ledger (
  custodian TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  subject TEXT,
  class TEXT NOT NULL,
  cid TEXT NOT NULL,
  job_id INTEGER,
  PRIMARY KEY (custodian, key_hash, content_hash)
);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  custodian TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  counts TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS attachments (
  custodian TEXT NOT NULL,
  cid TEXT NOT NULL,
  subject TEXT NOT NULL,
  class TEXT NOT NULL,
  content_key TEXT NOT NULL,
  size INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  record_cid TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (custodian, cid),
  UNIQUE (custodian, subject, class, content_key)
);
CREATE TABLE IF NOT EXISTS uploads (
  custodian TEXT NOT NULL,
  cid TEXT NOT NULL,
  target TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  uploaded_at TEXT NOT NULL,
  PRIMARY KEY (custodian, cid, target)
);
`

const handles = new Map<string, Db>()

export function openDatabase(paths: Pick<MedctlPaths, 'database'>): Db {
  const existing = handles.get(paths.database)
  if (existing?.open) return existing
  ensurePrivateDir(dirname(paths.database))
  const fresh = !existsSync(paths.database)
  let db: Db | undefined
  try {
    db = new Database(paths.database)
    if (fresh) chmodSync(paths.database, 0o600)
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 10000')
    db.pragma('foreign_keys = ON')
    db.exec(SCHEMA)
  } catch (error) {
    if (db?.open) db.close()
    throw databaseError(error, paths.database)
  }
  handles.set(paths.database, db)
  return db
}

/**
 * SQLite errors as stable codes (no full integrity check at open: it reads every page, and the
 * database holds the blocks; damage found later by a query is mapped by the base command): a damaged or foreign file is E_CORRUPT_DATABASE, a full disk
 * E_DISK_FULL, both naming the database file. Anything else is returned unchanged.
 */
export function databaseError(error: unknown, file: string): unknown {
  return fromSystemError(error, file) ?? error
}

const statementCache = new WeakMap<Db, Map<string, Database.Statement>>()

/**
 * A prepared statement compiled once per connection (better-sqlite3 compiles on every `prepare`):
 * for statements run once per resource or per object in bulk jobs.
 */
export function statement(db: Db, sql: string): Database.Statement {
  let cache = statementCache.get(db)
  if (!cache) {
    cache = new Map()
    statementCache.set(db, cache)
  }
  let prepared = cache.get(sql)
  if (!prepared) {
    prepared = db.prepare(sql)
    cache.set(sql, prepared)
  }
  return prepared
}

export function closeDatabases(): void {
  for (const db of handles.values()) if (db.open) db.close()
  handles.clear()
}
