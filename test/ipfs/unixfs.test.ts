import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {EmbeddedStore, prepareFile, readAll} from '../../src/lib/ipfs/index.js'

function pattern(size: number): Uint8Array {
  // a linear congruential sequence: deterministic, and no two 256 KiB chunks alike
  const bytes = new Uint8Array(size)
  let x = 12345
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

describe('UnixFS encoding gives the CIDs Kubo gives with --cid-version=1 --raw-leaves', () => {
  it('"hello world" and the empty file', async () => {
    expect((await prepareFile(Buffer.from('hello world'))).cid).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
    expect((await prepareFile(new Uint8Array())).cid).toBe('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku')
  })

  it('a multi-chunk file becomes a dag-pb root over 256 KiB raw leaves and round-trips', async () => {
    const data = pattern(1024 * 1024 + 17)
    const prepared = await prepareFile(data)
    expect(prepared.cid).toMatch(/^bafybei/)
    expect(prepared.blocks.filter((b) => b.cid.startsWith('bafkrei'))).toHaveLength(5)
    const store = new EmbeddedStore(new Database(':memory:'))
    store.writeBlocksSync(prepared.blocks)
    expect(Buffer.from(await readAll(store.cat(prepared.cid))).equals(Buffer.from(data))).toBe(true)
    // same bytes streamed in odd-sized pieces give the same CID
    async function* pieces() {
      for (let i = 0; i < data.length; i += 100_003) yield data.subarray(i, i + 100_003)
    }
    expect((await store.addStream(pieces())).cid).toBe(prepared.cid)
  })

  it('verify finds a corrupt and a missing block', async () => {
    const db = new Database(':memory:')
    const store = new EmbeddedStore(db)
    const big = await prepareFile(pattern(600_000))
    store.writeBlocksSync(big.blocks)
    expect(await store.verify([big.cid])).toEqual({checked: big.blocks.length, corrupt: [], missing: []})
    const leaves = big.blocks.filter((b) => b.cid !== big.cid)
    db.prepare('UPDATE blocks SET bytes = ? WHERE cid = ?').run(Buffer.from('tampered'), leaves[0]!.cid)
    db.prepare('DELETE FROM blocks WHERE cid = ?').run(leaves[1]!.cid)
    const report = await store.verify([big.cid])
    expect(report.corrupt).toEqual([leaves[0]!.cid])
    expect(report.missing).toEqual([leaves[1]!.cid])
  })
})
