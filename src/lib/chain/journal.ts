import type Database from 'better-sqlite3'

/**
 * The transaction journal: every transaction medctl signs is written here (raw bytes, hash, pinned
 * nonce) before it is broadcast, so a retry or a re-run re-broadcasts the same bytes instead of
 * signing anew — a transaction is sent once, whatever fails in between. `intent` names what the
 * transaction does (e.g. the grant it carries), so a command re-run after a crash finds its own
 * open transaction, and `payload` keeps what the command needs to finish its bookkeeping then.
 * Holds no plaintext PHI: calldata carries pseudonyms and hashes only.
 */
export type JournalStatus = 'signed' | 'mined' | 'reverted' | 'dropped'

export interface JournalRow {
  hash: string
  chainId: number
  from: string
  nonce: number
  raw: string
  method: string
  intent: string | null
  payload: string | null
  status: JournalStatus
  blockNumber: number | null
  createdAt: string
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tx_journal (
  hash TEXT PRIMARY KEY,
  chain_id INTEGER NOT NULL,
  sender TEXT NOT NULL,
  nonce INTEGER NOT NULL,
  raw TEXT NOT NULL,
  method TEXT NOT NULL,
  intent TEXT,
  payload TEXT,
  status TEXT NOT NULL,
  block_number INTEGER,
  finished INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tx_journal_open ON tx_journal (chain_id, sender, status);
CREATE INDEX IF NOT EXISTS tx_journal_intent ON tx_journal (intent);
`

interface Row {
  hash: string
  chain_id: number
  sender: string
  nonce: number
  raw: string
  method: string
  intent: string | null
  payload: string | null
  status: JournalStatus
  block_number: number | null
  created_at: string
}

const fromRow = (r: Row): JournalRow => ({
  hash: r.hash,
  chainId: r.chain_id,
  from: r.sender,
  nonce: r.nonce,
  raw: r.raw,
  method: r.method,
  intent: r.intent,
  payload: r.payload,
  status: r.status,
  blockNumber: r.block_number,
  createdAt: r.created_at,
})

export class TxJournal {
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA)
  }

  /** Durable before the broadcast (SQLite commits synchronously). */
  record(row: Omit<JournalRow, 'status' | 'blockNumber' | 'createdAt'>): void {
    this.db
      .prepare(
        'INSERT OR IGNORE INTO tx_journal (hash, chain_id, sender, nonce, raw, method, intent, payload, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        row.hash,
        row.chainId,
        row.from.toLowerCase(),
        row.nonce,
        row.raw,
        row.method,
        row.intent,
        row.payload,
        'signed',
        new Date().toISOString(),
      )
  }

  settle(hash: string, status: Exclude<JournalStatus, 'signed'>, blockNumber: number | null = null): void {
    this.db.prepare('UPDATE tx_journal SET status = ?, block_number = ? WHERE hash = ?').run(status, blockNumber, hash)
  }

  /** Transactions signed and not yet known to be mined or dropped, oldest nonce first. */
  open(chainId: number, from: string): JournalRow[] {
    return (
      this.db
        .prepare("SELECT * FROM tx_journal WHERE chain_id = ? AND sender = ? AND status = 'signed' ORDER BY nonce")
        .all(chainId, from.toLowerCase()) as Row[]
    ).map(fromRow)
  }

  /**
   * The transaction of an intent whose sender has not finished its bookkeeping (audit, local
   * records) yet: a re-run resumes it rather than signing anew.
   */
  unfinished(chainId: number, intent: string): JournalRow | undefined {
    const row = this.db
      .prepare(
        "SELECT * FROM tx_journal WHERE chain_id = ? AND intent = ? AND finished = 0 AND status IN ('signed', 'mined') ORDER BY nonce DESC LIMIT 1",
      )
      .get(chainId, intent) as Row | undefined
    return row ? fromRow(row) : undefined
  }

  /** The sender's bookkeeping for this transaction is done. */
  finish(hash: string): void {
    this.db.prepare('UPDATE tx_journal SET finished = 1 WHERE hash = ?').run(hash)
  }

  get(hash: string): JournalRow | undefined {
    const row = this.db.prepare('SELECT * FROM tx_journal WHERE hash = ?').get(hash) as Row | undefined
    return row ? fromRow(row) : undefined
  }
}
