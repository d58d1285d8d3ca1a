import {createHash} from 'node:crypto'
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

describe('known answer: the CID of a multi-chunk file (CIDv1, raw leaves, 256 KiB chunks)', () => {
  // Built here by hand, independently of ipfs-unixfs-importer and @ipld/dag-pb: raw leaves are
  // CIDv1(raw, sha2-256(chunk)); the root is the dag-pb PBNode { Links (field 2, each PBLink
  // {Hash=1, Name=2 "", Tsize=3}), Data (field 1) = UnixFS { Type=2 File, filesize=3,
  // blocksizes=4 repeated } }, as Kubo writes for `ipfs add --cid-version=1 --raw-leaves`.
  const varint = (n: number): number[] => {
    const out: number[] = []
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80)
      n = Math.floor(n / 0x80)
    }
    out.push(n)
    return out
  }
  const field = (number: number, wire: number): number[] => varint((number << 3) | wire)
  const bytesField = (number: number, bytes: Uint8Array | number[]): number[] => [...field(number, 2), ...varint(bytes.length), ...bytes]
  const cidV1 = (codec: number, bytes: Uint8Array): Uint8Array =>
    Uint8Array.from([0x01, ...varint(codec), 0x12, 0x20, ...createHash('sha256').update(bytes).digest()])
  const base32 = (bytes: Uint8Array): string => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
    let bits = 0
    let value = 0
    let out = 'b'
    for (const byte of bytes) {
      value = (value << 8) | byte
      bits += 8
      while (bits >= 5) {
        out += alphabet[(value >>> (bits - 5)) & 31]
        bits -= 5
      }
    }
    if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
    return out
  }

  function handMadeCid(data: Uint8Array): string {
    const chunks: Uint8Array[] = []
    for (let i = 0; i < data.length; i += 262_144) chunks.push(data.subarray(i, i + 262_144))
    const links = chunks.flatMap((chunk) =>
      bytesField(2, [...bytesField(1, cidV1(0x55, chunk)), ...bytesField(2, []), ...field(3, 0), ...varint(chunk.length)]),
    )
    const unixfs = [
      ...field(1, 0),
      2,
      ...field(3, 0),
      ...varint(data.length),
      ...chunks.flatMap((c) => [...field(4, 0), ...varint(c.length)]),
    ]
    const node = Uint8Array.from([...links, ...bytesField(1, unixfs)])
    return base32(cidV1(0x70, node))
  }

  it('1 MiB + 17 bytes of the pattern: the hand-made root, our encoder and the pinned string agree', async () => {
    const data = pattern(1024 * 1024 + 17)
    const expected = handMadeCid(data)
    expect((await prepareFile(data)).cid).toBe(expected)
    expect(expected).toBe(KNOWN_MULTI_CHUNK_CID)
  })

  it('the hand-made single leaf agrees with the published "hello world" CID (checks the helper itself)', () => {
    expect(base32(cidV1(0x55, Buffer.from('hello world')))).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
  })
})

// Pinned: a change of chunker, layout, CID version or leaf codec changes it.
const KNOWN_MULTI_CHUNK_CID = 'bafybeifb22ir4mdaxco5sjblis76lkcqujcorhytmfusmay5fw44pibuoq'
