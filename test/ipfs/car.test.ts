import {mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import * as dagCbor from '@ipld/dag-cbor'
import Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import {afterAll, describe, expect, it} from 'vitest'
import {
  EmbeddedStore,
  childLinks,
  dagBlocks,
  decodeCar,
  decodeCarHeader,
  decodeVarint,
  encodeCar,
  encodeCarHeader,
  encodeVarint,
  openCarFile,
  prepareFile,
  readAll,
  writeCarFile,
} from '../../src/lib/ipfs/index.js'

function pattern(size: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

const dir = mkdtempSync(join(tmpdir(), 'medctl-car-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('CARv1 writer and reader', () => {
  it('the header is canonical DAG-CBOR, byte for byte what @ipld/dag-cbor encodes', async () => {
    const root = (await prepareFile(Buffer.from('hello world'))).cid
    const mine = encodeCarHeader([root])
    const theirs = dagCbor.encode({version: 1, roots: [CID.parse(root)]})
    expect(Buffer.from(mine).toString('hex')).toBe(Buffer.from(theirs).toString('hex'))
    expect(decodeCarHeader(theirs)).toEqual({version: 1, roots: [root]})
    const decoded = dagCbor.decode(mine) as {version: number; roots: CID[]}
    expect(decoded.version).toBe(1)
    expect(decoded.roots.map(String)).toEqual([root])
  })

  it('varints round-trip and refuse overlong or truncated input', () => {
    for (const n of [0, 1, 127, 128, 300, 16_384, 2 ** 31, Number.MAX_SAFE_INTEGER])
      expect(decodeVarint(encodeVarint(n))).toEqual([n, encodeVarint(n).length])
    expect(decodeVarint(Uint8Array.of(0x80))).toBeUndefined()
    expect(() => decodeVarint(Uint8Array.of(0x80, 0x00))).toThrow(/minimally/)
  })

  it('a multi-block file written to a CAR file reads back, every block verified, and the CAR is deterministic', async () => {
    const data = pattern(700_000)
    const prepared = await prepareFile(data)
    const other = await prepareFile(Buffer.from('second root'))
    const blocks = new Map([...prepared.blocks, ...other.blocks].map((b) => [b.cid, b.bytes]))
    const file = join(dir, 'two.car')
    const written = await writeCarFile(
      file,
      [prepared.cid],
      dagBlocks([prepared.cid, other.cid], async (cid) => blocks.get(cid)),
    )
    expect(written.blocks).toBe(prepared.blocks.length + 1)
    const bytes = readFileSync(file)
    expect(written.bytes).toBe(bytes.length)
    expect(Buffer.from(encodeCar([prepared.cid], dagBlocksSync([prepared.cid, other.cid], blocks))).equals(bytes)).toBe(true)
    const car = await openCarFile(file)
    try {
      expect(car.roots).toEqual([prepared.cid])
      expect(car.size).toBe(prepared.blocks.length + 1)
      expect(Buffer.from(await readAll(car.cat(prepared.cid))).equals(Buffer.from(data))).toBe(true)
      expect((await readAll(car.cat(other.cid))).toString()).toBe('second root')
      expect(await car.getBlock('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).toBeUndefined()
    } finally {
      car.close()
    }
    const inMemory = await decodeCar(bytes)
    expect(inMemory.roots).toEqual([prepared.cid])
    expect(inMemory.blocks.size).toBe(prepared.blocks.length + 1)
  })

  it('one flipped byte anywhere in the file is refused with E_CAR_CORRUPT (exit 4), never misread', async () => {
    const prepared = await prepareFile(pattern(300_000, 3))
    const bytes = Buffer.from(encodeCar([prepared.cid], prepared.blocks))
    const positions = new Set<number>([0, 1, 5, 20, 40, 60])
    for (let p = 0; p < bytes.length; p += Math.floor(bytes.length / 97)) positions.add(p)
    positions.add(bytes.length - 1)
    for (const position of positions) {
      const bad = Buffer.from(bytes)
      bad[position] = (bad[position] as number) ^ 0x01
      const file = join(dir, `flip-${position}.car`)
      writeFileSync(file, bad)
      await expect(openCarFile(file), `byte ${position}`).rejects.toMatchObject({code: 'E_CAR_CORRUPT', exitCode: 4})
      await expect(decodeCar(bad), `byte ${position}`).rejects.toMatchObject({code: 'E_CAR_CORRUPT'})
    }
  })

  it('truncated files, junk, a missing root and a huge section length are E_CAR_CORRUPT', async () => {
    const prepared = await prepareFile(pattern(300_000, 5))
    const bytes = Buffer.from(encodeCar([prepared.cid], prepared.blocks))
    const cases: Record<string, Uint8Array> = {
      truncated: bytes.subarray(0, bytes.length - 10),
      headerOnly: bytes.subarray(0, 10),
      junk: Buffer.from('this is not a CAR file at all'),
      noRoot: encodeCar(
        [prepared.cid],
        prepared.blocks.filter((b) => b.cid !== prepared.cid),
      ),
      hugeSection: Buffer.concat([bytes.subarray(0, 1 + (bytes[0] as number)), encodeVarint(2 ** 40)]),
    }
    for (const [name, bad] of Object.entries(cases)) {
      const file = join(dir, `${name}.car`)
      writeFileSync(file, bad)
      await expect(openCarFile(file), name).rejects.toMatchObject({code: 'E_CAR_CORRUPT'})
    }
  })

  it('a block changed after the file was opened is caught when it is read', async () => {
    const prepared = await prepareFile(pattern(400_000, 9))
    const bytes = Buffer.from(encodeCar([prepared.cid], prepared.blocks))
    const file = join(dir, 'later.car')
    writeFileSync(file, bytes)
    const car = await openCarFile(file)
    try {
      const bad = Buffer.from(bytes)
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff
      writeFileSync(file, bad)
      await expect(readAll(car.cat(prepared.cid))).rejects.toMatchObject({code: 'E_CAR_CORRUPT'})
    } finally {
      car.close()
    }
  })

  it('damaged: collect sets a bad block aside: the other files still read, the damaged one fails when read, and the root is still required intact', async () => {
    const first = await prepareFile(Buffer.from('first file'))
    const second = await prepareFile(Buffer.from('second file'))
    const root = await prepareFile(Buffer.from('the package'))
    const bytes = Buffer.from(encodeCar([root.cid], [...root.blocks, ...first.blocks, ...second.blocks]))
    const at = bytes.indexOf(Buffer.from('second file'))
    const bad = Buffer.from(bytes)
    bad[at] = (bad[at] as number) ^ 0x01
    const file = join(dir, 'collect.car')
    writeFileSync(file, bad)
    await expect(openCarFile(file)).rejects.toMatchObject({code: 'E_CAR_CORRUPT'})
    const car = await openCarFile(file, {damaged: 'collect'})
    try {
      expect(car.damaged()).toEqual([second.cid])
      expect((await readAll(car.cat(first.cid))).toString()).toBe('first file')
      await expect(readAll(car.cat(second.cid))).rejects.toMatchObject({code: 'E_CAR_CORRUPT', details: {cid: second.cid}})
    } finally {
      car.close()
    }
    const rootAt = bytes.indexOf(Buffer.from('the package'))
    const badRoot = Buffer.from(bytes)
    badRoot[rootAt] = (badRoot[rootAt] as number) ^ 0x01
    writeFileSync(file, badRoot)
    await expect(openCarFile(file, {damaged: 'collect'})).rejects.toMatchObject({code: 'E_CAR_CORRUPT'})
  })

  it('a failed write leaves no file and no temp file', async () => {
    const sub = mkdtempSync(join(dir, 'fail-'))
    const file = join(sub, 'x.car')
    async function* broken() {
      yield {cid: 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e', bytes: Buffer.from('hello world')}
      throw new Error('the store failed midway')
    }
    await expect(writeCarFile(file, ['bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'], broken())).rejects.toThrow('midway')
    expect(readdirSync(sub)).toEqual([])
  })

  it('blocks come out of the embedded store for a CAR of what it holds', async () => {
    const store = new EmbeddedStore(new Database(':memory:'))
    const {cid} = await store.addStream(pattern(600_000, 11))
    const file = join(dir, 'store.car')
    await writeCarFile(
      file,
      [cid],
      dagBlocks([cid], (c) => store.getBlock(c)),
    )
    const car = await openCarFile(file)
    try {
      expect(Buffer.from(await readAll(car.cat(cid))).equals(Buffer.from(await readAll(store.cat(cid))))).toBe(true)
    } finally {
      car.close()
    }
  })
})

/** Same walk as dagBlocks, synchronously over a map (for the in-memory encoder). */
function dagBlocksSync(roots: string[], blocks: Map<string, Uint8Array>): Array<{cid: string; bytes: Uint8Array}> {
  const out: Array<{cid: string; bytes: Uint8Array}> = []
  const seen = new Set<string>()
  const stack = [...roots].reverse()
  while (stack.length > 0) {
    const cid = stack.pop() as string
    if (seen.has(cid)) continue
    seen.add(cid)
    const bytes = blocks.get(cid) as Uint8Array
    out.push({cid, bytes})
    stack.push(...childLinks(cid, bytes).reverse())
  }
  return out
}
