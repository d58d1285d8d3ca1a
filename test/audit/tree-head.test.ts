/**
 * The Merkle-only fast path (logTreeHead: chunked reads, leaves hashed in place) gives exactly the
 * root, size and last-line hash of the line-by-line reference (readLog + RFC 9162 MTH), whatever
 * the chunk size: lines across chunk boundaries, lines longer than a chunk, several segments, an
 * unterminated segment end and a torn tail.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {
  EMPTY_ROOT,
  RootAccumulator,
  leafHash,
  lineHash,
  logTreeHead,
  logTreeHeadAsync,
  nodeHash,
  readLog,
  rootOf,
  treeHead,
} from '../../src/lib/audit/index.js'
import {createHash} from 'node:crypto'

function reference(dir: string): {size: number; root: string; lastHash: string; torn?: number} {
  const leaves: Buffer[] = []
  let lastHash = ''
  let torn: number | undefined
  for (const line of readLog(dir)) {
    leaves.push(leafHash(line.bytes))
    lastHash = lineHash(line.bytes)
    if (line.torn) torn = line.index
  }
  return {size: leaves.length, root: `0x${rootOf(leaves).toString('hex')}`, lastHash, ...(torn !== undefined ? {torn} : {})}
}

const dirs: string[] = []
const fresh = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'medctl-tree-head-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const line = (i: number): string => `{"seq":${i},"pad":"${'x'.repeat((i * 37) % 300)}"}`

describe('logTreeHead: the Merkle-only path equals the reference', () => {
  it('hashes agree with the RFC 9162 definitions (leaf 0x00, node 0x01)', () => {
    const sha = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest()
    const a = Buffer.from('entry a')
    expect(leafHash(a)).toEqual(sha(Buffer.from([0]), a))
    const l = sha(Buffer.from('l'))
    const r = sha(Buffer.from('r'))
    expect(nodeHash(l, r)).toEqual(sha(Buffer.from([1]), l, r))
    const acc = new RootAccumulator()
    for (let i = 0; i < 11; i++) acc.push(leafHash(Buffer.from(`e${i}`)))
    const leaves = Array.from({length: 11}, (_, i) => leafHash(Buffer.from(`e${i}`)))
    // MTH by the recursive definition (largest power of two below n).
    const mth = (ls: Buffer[]): Buffer => {
      if (ls.length === 1) return ls[0] as Buffer
      let k = 1
      while (k * 2 < ls.length) k *= 2
      return sha(Buffer.from([1]), mth(ls.slice(0, k)), mth(ls.slice(k)))
    }
    expect(acc.root()).toEqual(mth(leaves))
  })

  it('an empty log', () => {
    const dir = fresh()
    expect(logTreeHead(dir)).toEqual({size: 0, root: `0x${EMPTY_ROOT.toString('hex')}`, lastHash: ''})
  })

  for (const chunk of [1, 7, 64, 1000, 8 * 1024 * 1024]) {
    it(`chunk of ${chunk} bytes: two segments, long lines, an unterminated segment end, a torn tail (this thread and the worker)`, async () => {
      const dir = fresh()
      const first = Array.from({length: 300}, (_, i) => line(i))
      first[5] = `{"long":"${'y'.repeat(5000)}"}`
      writeFileSync(join(dir, 'log-000001.ndjson'), `${first.join('\n')}\n${line(999)}`) // unterminated, not the last segment
      const second = Array.from({length: 57}, (_, i) => line(1000 + i))
      writeFileSync(join(dir, 'log-000002.ndjson'), `${second.join('\n')}\n`)
      const whole = reference(dir)
      expect(whole.size).toBe(358)
      expect(logTreeHead(dir, chunk)).toEqual(whole)
      const fallbacks: string[] = []
      // minBytes 0: the worker thread hashes the leaves even for this small log.
      expect(await logTreeHeadAsync(dir, {chunkBytes: chunk, minBytes: 0, onFallback: (why) => fallbacks.push(why)})).toEqual(whole)

      writeFileSync(join(dir, 'log-000002.ndjson'), `${second.join('\n')}\n{"torn":`)
      const torn = reference(dir)
      expect(torn.torn).toBe(358)
      expect(logTreeHead(dir, chunk)).toEqual(torn)
      expect(await logTreeHeadAsync(dir, {chunkBytes: chunk, minBytes: 0, onFallback: (why) => fallbacks.push(why)})).toEqual(torn)
      expect(fallbacks).toEqual([])
    })
  }

  it('a worker that cannot read a segment falls back to this thread, which reports the error itself', async () => {
    const dir = fresh()
    writeFileSync(join(dir, 'log-000001.ndjson'), `${line(0)}\n`)
    mkdirSync(join(dir, 'log-000002.ndjson'))
    const fallbacks: string[] = []
    await expect(logTreeHeadAsync(dir, {minBytes: 0, onFallback: (why) => fallbacks.push(why)})).rejects.toMatchObject({code: 'EISDIR'})
    expect(fallbacks.length).toBe(1)
  })

  it('treeHead refuses a torn tail (E_AUDIT_TORN_TAIL)', () => {
    const dir = fresh()
    writeFileSync(join(dir, 'log-000001.ndjson'), `${line(0)}\n{"half`)
    expect(() => treeHead(dir)).toThrow(expect.objectContaining({code: 'E_AUDIT_TORN_TAIL'}))
  })
})
