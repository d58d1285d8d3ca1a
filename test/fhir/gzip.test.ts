import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, describe, expect, it} from 'vitest'
import {gzipMembers, type GzipWalk} from '../../src/lib/fhir/gzip.js'
import {fileLines, type LineItem} from '../../src/lib/fhir/lines.js'

const dir = mkdtempSync(join(tmpdir(), 'medctl-gzip-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function file(name: string, bytes: Buffer): string {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

async function walk(path: string): Promise<{text: string; walk: GzipWalk}> {
  const w: GzipWalk = {members: 0}
  const parts: Buffer[] = []
  for await (const chunk of gzipMembers(path, w)) parts.push(chunk)
  return {text: Buffer.concat(parts).toString('utf8'), walk: w}
}

async function lines(path: string): Promise<LineItem[]> {
  const out: LineItem[] = []
  for await (const item of fileLines(path, {gzip: true})) out.push(item)
  return out
}

const lineBlock = (prefix: string, n: number): string =>
  Array.from({length: n}, (_, i) => `${prefix}-${i}-${'x'.repeat(40)}`).join('\n') + '\n'

describe('gzip read member by member', () => {
  it('reads what the gzip CLI wrote (header with a file name) and concatenated members, every trailer checked', async () => {
    const plain = file('plain.ndjson', Buffer.from(lineBlock('a', 5000)))
    execFileSync('gzip', ['-k', '-f', plain])
    const one = await walk(`${plain}.gz`)
    expect(one.walk).toEqual({members: 1})
    expect(one.text).toBe(lineBlock('a', 5000))
    const multi = file('multi.gz', Buffer.concat([gzipSync(lineBlock('a', 3)), gzipSync(''), gzipSync(lineBlock('b', 20_000))]))
    const read = await walk(multi)
    expect(read.walk).toEqual({members: 3})
    expect(read.text).toBe(lineBlock('a', 3) + lineBlock('b', 20_000))
  })

  it('junk after a member: the members before it are read whole, the junk is reported, never lines lost', async () => {
    const path = file('junk.gz', Buffer.concat([gzipSync(lineBlock('a', 4000)), Buffer.from('this is not gzip')]))
    const read = await walk(path)
    expect(read.walk).toEqual({members: 1, stop: {kind: 'trailing', member: 1}})
    const items = await lines(path)
    expect(items.filter((i) => i.text !== undefined)).toHaveLength(4000)
    expect(items.at(-1)).toMatchObject({line: 4001, problem: {code: 'E_GZIP_TRAILING_DATA'}})
  })

  it('zero padding after the last member is ignored, as gzip does', async () => {
    const read = await walk(file('padded.gz', Buffer.concat([gzipSync(lineBlock('a', 2)), Buffer.alloc(4096)])))
    expect(read.walk).toEqual({members: 1})
  })

  it("a damaged second member: the first member's lines stand, nothing of the damaged one is used", async () => {
    const second = gzipSync(lineBlock('b', 3000))
    second[second.length - 6] = (second[second.length - 6] as number) ^ 0xff // CRC
    const path = file('damaged2.gz', Buffer.concat([gzipSync(lineBlock('a', 10)), second]))
    const items = await lines(path)
    const texts = items.filter((i) => i.text !== undefined).map((i) => i.text as string)
    expect(texts).toHaveLength(10)
    expect(texts.every((t) => t.startsWith('a-'))).toBe(true)
    expect(items.at(-1)).toMatchObject({line: 11, problem: {code: 'E_GZIP_CORRUPT'}})
  })

  it('a damaged only member: nothing is read; a truncated one: its complete lines, then E_GZIP_TRUNCATED', async () => {
    const gz = gzipSync(lineBlock('a', 3000))
    const flipped = Buffer.from(gz)
    for (let i = 100; i < 140; i++) flipped[i] = (flipped[i] as number) ^ 0xa5
    const damaged = await lines(file('damaged1.gz', flipped))
    expect(damaged).toEqual([{line: 1, problem: expect.objectContaining({code: 'E_GZIP_CORRUPT'})}])
    const cut = await lines(file('cut.gz', gz.subarray(0, Math.floor(gz.length * 0.6))))
    expect(cut.length).toBeGreaterThan(10)
    expect(cut.slice(0, -1).every((i) => i.text?.startsWith('a-'))).toBe(true)
    expect(cut.at(-1)?.problem?.code).toBe('E_GZIP_TRUNCATED')
    const headerOnly = await lines(file('header.gz', gz.subarray(0, 6)))
    expect(headerOnly.at(-1)?.problem?.code).toBe('E_GZIP_TRUNCATED')
  })
})
