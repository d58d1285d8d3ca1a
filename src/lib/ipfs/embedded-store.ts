import type Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import {ExitCode, MedctlError} from '../core/errors.js'
import {statement} from '../db/database.js'
import type {ContentStore, VerifyReport} from './content-store.js'
import {blockMatches, childLinks, encodeUnixfs, prepareFile, readUnixfs, type Block, type PreparedFile} from './unixfs.js'

type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Blocks written per transaction by addStream. */
const STREAM_BATCH_BYTES = 4 * 1024 * 1024

const SCHEMA = `
CREATE TABLE IF NOT EXISTS blocks (cid TEXT PRIMARY KEY, bytes BLOB NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pins (cid TEXT PRIMARY KEY, pinned_at TEXT NOT NULL);
`

/**
 * IPFS blocks in the local SQLite database, next to the record index.
 *
 * better-sqlite3 is synchronous and the UnixFS encoder is async, so writes come in two shapes:
 * `prepare` computes every block of an object in memory and `writeBlocksSync` writes them inside the
 * caller's transaction together with the index rows that point at them (record objects: an index
 * row never points at a missing block). For content too large for memory, `addStream` writes blocks
 * as they are produced and returns the root; the caller then writes its row. A crash in between
 * leaves only content-addressed orphan blocks, which no row references and which are harmless.
 */
export class EmbeddedStore implements ContentStore {
  readonly kind = 'embedded' as const

  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA)
  }

  prepare(content: ByteSource): Promise<PreparedFile> {
    return prepareFile(content)
  }

  writeBlocksSync(blocks: readonly Block[]): void {
    const insert = statement(this.db, 'INSERT OR IGNORE INTO blocks (cid, bytes, size) VALUES (?, ?, ?)')
    for (const block of blocks) insert.run(block.cid, Buffer.from(block.bytes), block.bytes.length)
  }

  async add(content: ByteSource): Promise<{cid: string; size: number}> {
    return this.addStream(content)
  }

  /**
   * The streaming put: content of any size is chunked and written as it arrives, a few blocks per
   * transaction (one fsync per ~4 MiB, not per block), so memory holds at most one batch.
   */
  async addStream(content: ByteSource | (() => AsyncIterable<Uint8Array>)): Promise<{cid: string; size: number}> {
    const source = typeof content === 'function' ? content() : content
    let pending: Block[] = []
    let pendingBytes = 0
    const flush = (): void => {
      if (pending.length === 0) return
      const batch = pending
      pending = []
      pendingBytes = 0
      this.db.transaction(() => this.writeBlocksSync(batch))()
    }
    const result = await encodeUnixfs(source, (block) => {
      pending.push(block)
      pendingBytes += block.bytes.length
      if (pendingBytes >= STREAM_BATCH_BYTES) flush()
    })
    flush()
    return result
  }

  /** Whether every block of the DAG under `cid` is here (reads the inner nodes only, checks leaves by key). */
  hasDag(cid: string): boolean {
    const stack = [cid]
    while (stack.length > 0) {
      const next = stack.pop() as string
      if (CID.parse(next).code === raw.code) {
        if (!this.db.prepare('SELECT 1 FROM blocks WHERE cid = ?').get(next)) return false
        continue
      }
      const bytes = this.getBlockSync(next)
      if (!bytes) return false
      stack.push(...childLinks(next, bytes))
    }
    return true
  }

  getBlockSync(cid: string): Uint8Array | undefined {
    const row = this.db.prepare('SELECT bytes FROM blocks WHERE cid = ?').get(cid) as {bytes: Buffer} | undefined
    return row?.bytes
  }

  /** One block, checked against its CID (a damaged database is E_BLOCK_CORRUPT, exit 4). */
  async getBlock(cid: string): Promise<Uint8Array | undefined> {
    const bytes = this.getBlockSync(cid)
    if (bytes && !(await blockMatches(cid, bytes))) {
      throw new MedctlError('E_BLOCK_CORRUPT', `Stored block ${cid} does not match its CID.`, {
        exitCode: ExitCode.VERIFY_FAILED,
        details: {cid},
        suggestions: ['Run `medctl store verify`.'],
      })
    }
    return bytes
  }

  async has(cid: string): Promise<boolean> {
    return Boolean(this.db.prepare('SELECT 1 FROM blocks WHERE cid = ?').get(cid))
  }

  cat(cid: string): AsyncIterable<Uint8Array> {
    return readUnixfs(cid, async (c) => this.getBlock(c))
  }

  async pin(cid: string): Promise<void> {
    this.db.prepare('INSERT OR IGNORE INTO pins (cid, pinned_at) VALUES (?, ?)').run(cid, new Date().toISOString())
  }

  /** Re-hashes every block and walks each root's DAG. */
  async verify(roots: readonly string[] = []): Promise<VerifyReport> {
    const corrupt: string[] = []
    let checked = 0
    for (const row of this.db.prepare('SELECT cid, bytes FROM blocks ORDER BY cid').iterate() as IterableIterator<{
      cid: string
      bytes: Buffer
    }>) {
      checked++
      if (!(await blockMatches(row.cid, row.bytes))) corrupt.push(row.cid)
    }
    const missing = new Set<string>()
    const pinned = (this.db.prepare('SELECT cid FROM pins').all() as Array<{cid: string}>).map((r) => r.cid)
    const visited = new Set<string>()
    const stack = [...new Set([...roots, ...pinned])]
    while (stack.length > 0) {
      const cid = stack.pop() as string
      if (visited.has(cid)) continue
      visited.add(cid)
      const bytes = this.getBlockSync(cid)
      if (!bytes) {
        missing.add(cid)
        continue
      }
      if (corrupt.includes(cid)) continue
      stack.push(...childLinks(cid, bytes))
    }
    return {checked, corrupt, missing: [...missing].sort()}
  }
}
