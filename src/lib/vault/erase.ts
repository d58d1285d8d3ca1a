import {childLinks} from '../ipfs/index.js'
import type {Db} from '../db/database.js'
import {RecordIndex} from './record-index.js'

export interface ShredResult {
  subject: string
  erasedAt: string
  cids: string[]
  envelopes: number
  blocks: number
  /** Other rows about the subject removed (ledger, references, encrypted consent terms, subject row). */
  rows: number
}

function tableExists(db: Db, name: string): boolean {
  return Boolean(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name))
}

/** Every block of the objects' DAGs held in the embedded store (walks the links of each root). */
function blocksOf(db: Db, roots: readonly string[]): string[] {
  if (!tableExists(db, 'blocks')) return []
  const get = db.prepare('SELECT bytes FROM blocks WHERE cid = ?')
  const found = new Set<string>()
  const stack = [...roots]
  while (stack.length > 0) {
    const cid = stack.pop() as string
    if (found.has(cid)) continue
    const row = get.get(cid) as {bytes: Buffer} | undefined
    if (!row) continue
    found.add(cid)
    stack.push(...childLinks(cid, row.bytes))
  }
  return [...found]
}

/**
 * Crypto-shreds a subject in the custodian's database, in one transaction: every key envelope of
 * the subject's objects, attachments (`records attach`) included (the custodian's and each
 * grantee's), the objects' blocks, pins and index
 * rows, the ledger and reference rows, the encrypted identifier and encrypted consent terms; a
 * tombstone (pseudonym and time) is left so later commands fail with E_ERASED. `secure_delete`
 * zeroes the freed pages and the WAL is checkpointed and truncated, so the envelopes' bytes do not
 * linger in the database files. The object keys existed only inside those envelopes: afterwards
 * no key this home holds opens any copy of the objects.
 */
export function shredSubject(db: Db, custodianAddress: string, subject: string, at = new Date().toISOString()): ShredResult {
  const index = new RecordIndex(db, custodianAddress)
  const cids = index.objects({subject, attachments: 'include'}).map((o) => o.cid)
  const custodian = index.custodian
  const previous = db.pragma('secure_delete', {simple: true}) as number
  db.pragma('secure_delete = ON')
  try {
    const counts = db.transaction(() => {
      let envelopes = 0
      let rows = 0
      const blocks = blocksOf(db, cids)
      const delEnvelope = db.prepare('DELETE FROM key_envelopes WHERE cid = ?')
      const delObject = db.prepare('DELETE FROM objects WHERE custodian = ? AND cid = ?')
      const delUpload = db.prepare('DELETE FROM uploads WHERE custodian = ? AND cid = ?')
      for (const cid of cids) {
        envelopes += delEnvelope.run(cid).changes
        delObject.run(custodian, cid)
        delUpload.run(custodian, cid)
      }
      if (blocks.length > 0) {
        const delBlock = db.prepare('DELETE FROM blocks WHERE cid = ?')
        const delPin = tableExists(db, 'pins') ? db.prepare('DELETE FROM pins WHERE cid = ?') : undefined
        for (const cid of blocks) {
          delBlock.run(cid)
          delPin?.run(cid)
        }
      }
      rows += db.prepare('DELETE FROM attachments WHERE custodian = ? AND subject = ?').run(custodian, subject).changes
      rows += db.prepare('DELETE FROM ledger WHERE custodian = ? AND subject = ?').run(custodian, subject).changes
      rows += db.prepare('DELETE FROM patient_refs WHERE custodian = ? AND subject = ?').run(custodian, subject).changes
      rows += db.prepare('DELETE FROM subjects WHERE custodian = ? AND subject = ?').run(custodian, subject).changes
      if (tableExists(db, 'consent_terms'))
        rows += db.prepare('DELETE FROM consent_terms WHERE lower(custodian) = ? AND subject = ?').run(custodian, subject).changes
      index.markErased(subject, at)
      return {envelopes, blocks: blocks.length, rows}
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
    return {subject, erasedAt: at, cids, ...counts}
  } finally {
    db.pragma(`secure_delete = ${previous ? 'ON' : 'OFF'}`)
  }
}
