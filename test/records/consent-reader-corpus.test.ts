import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {isEmptyInput, readConsents, type ConsentItem} from '../../src/lib/consent/import-reader.js'
import {loadDefinitions} from '../../src/lib/fhir/index.js'
import {repoRoot} from '../helpers/cli.js'

const corpus = join(repoRoot, 'test', 'fixtures', 'bad', 'consent-input')
const GRANTEE = `0x${'ab'.repeat(20)}`

interface Case {
  file: string
  codes: string[]
  consents: number
  note?: string
}

async function readAll(file: string, options: {maxLineBytes?: number} = {}): Promise<ConsentItem[]> {
  const items: ConsentItem[] = []
  const resolveGrantee = (value: string): string => {
    if (value.toLowerCase() === GRANTEE) return GRANTEE
    throw Object.assign(new Error('unknown'), {code: 'E_GRANTEE_NOT_FOUND'})
  }
  for await (const item of readConsents(file, {resolveGrantee, ...options})) items.push(item)
  return items
}

function expectRead(items: ConsentItem[], expected: {codes: string[]; consents: number}): void {
  const rejects = items.filter((i) => i.kind === 'reject')
  expect([...new Set(rejects.map((r) => r.code))].sort(), JSON.stringify(rejects.slice(0, 3))).toEqual([...new Set(expected.codes)].sort())
  expect(items.filter((i) => i.kind === 'consent')).toHaveLength(expected.consents)
  // Messages quote nothing from the input.
  for (const r of rejects) expect(r.kind === 'reject' && r.message).not.toMatch(/MRN-|SECRET|passwd|99999|0000-01-01|March/)
}

describe('consent import reader: every bad input is a reject with its code, its neighbours are read, nothing throws', () => {
  const cases = JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')) as Case[]
  beforeAll(() => loadDefinitions())

  it('holds at least 30 committed kinds', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30)
  })

  for (const c of cases) {
    it(`${c.file}${c.note ? ` (${c.note})` : ''}: ${c.codes.join(', ')}`, async () => {
      expectRead(await readAll(join(corpus, c.file)), c)
    })
  }

  it('an empty input is exposed as one EMPTY_INPUT reject (isEmptyInput), so the service can fail it with E_EMPTY_INPUT instead of "read 0"', async () => {
    for (const file of ['empty.ndjson', 'json-empty.json', 'csv-header-only.csv', 'csv-empty.csv', 'bundle-no-entries.json']) {
      const items = await readAll(join(corpus, file))
      expect(items, file).toHaveLength(1)
      expect(isEmptyInput(items[0] as ConsentItem), file).toBe(true)
    }
  })
})

describe('consent import reader, generated at run time (gzip, UTF-8, long lines)', () => {
  let dir: string
  let line: (tag: string) => string
  beforeAll(() => {
    loadDefinitions()
    dir = mkdtempSync(join(tmpdir(), 'medctl-consent-bad-'))
    const template = readFileSync(join(corpus, 'null-line.ndjson'), 'utf8').split('\n')[0] as string
    line = (tag) => template.replaceAll('null-line-a', tag)
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  const write = (name: string, data: Buffer | string): string => {
    writeFileSync(join(dir, name), data)
    return join(dir, name)
  }

  it('a 0-byte .ndjson.gz: E_EMPTY_INPUT', async () => {
    const items = await readAll(write('empty.ndjson.gz', ''))
    expectRead(items, {codes: ['E_EMPTY_INPUT'], consents: 0})
    expect(isEmptyInput(items[0] as ConsentItem)).toBe(true)
  })

  it('a .ndjson.gz that is not gzip: E_NOT_GZIP', async () => {
    expectRead(await readAll(write('plain.ndjson.gz', `${line('g1')}\n`)), {codes: ['E_NOT_GZIP'], consents: 0})
  })

  it('a truncated .ndjson.gz: its complete lines, then E_GZIP_TRUNCATED', async () => {
    const gz = gzipSync(Array.from({length: 2000}, (_, i) => line(`t${i}`)).join('\n') + '\n')
    const items = await readAll(write('cut.ndjson.gz', gz.subarray(0, Math.floor(gz.length / 2))))
    const rejects = items.filter((i) => i.kind === 'reject')
    expect(rejects.map((r) => r.code)).toEqual(['E_GZIP_TRUNCATED'])
    expect(items.filter((i) => i.kind === 'consent').length).toBeGreaterThan(100)
  })

  it('a corrupted .ndjson.gz: E_GZIP_CORRUPT, nothing read from it', async () => {
    const gz = gzipSync(Array.from({length: 2000}, (_, i) => line(`k${i}`)).join('\n') + '\n')
    for (let i = Math.floor(gz.length / 2); i < Math.floor(gz.length / 2) + 32; i++) gz[i] = (gz[i] as number) ^ 0x5a
    expectRead(await readAll(write('bad.ndjson.gz', gz)), {codes: ['E_GZIP_CORRUPT'], consents: 0})
  })

  it('a valid .ndjson.gz is read', async () => {
    expectRead(await readAll(write('ok.ndjson.gz', gzipSync(`${line('ok1')}\n${line('ok2')}\n`))), {codes: [], consents: 2})
  })

  it('invalid UTF-8 on a line: E_INVALID_UTF8, the neighbours are read', async () => {
    const bad = Buffer.concat([Buffer.from('{"resourceType":"Consent","id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
    expectRead(await readAll(write('utf.ndjson', Buffer.concat([Buffer.from(`${line('u1')}\n`), bad, Buffer.from(`\n${line('u2')}\n`)]))), {
      codes: ['E_INVALID_UTF8'],
      consents: 2,
    })
  })

  it('invalid UTF-8 in a CSV row: E_INVALID_UTF8, the other rows are read', async () => {
    const header = 'patient,grantee,purpose,classes,from,until,id\n'
    const row = (tag: string) => `http://hospital.example/mrn|MRN-${tag},${GRANTEE},TREAT,labs,2026-01-01,2027-03-01,c-${tag}\n`
    const data = Buffer.concat([
      Buffer.from(header + row('v1')),
      Buffer.from('http://hospital.example/mrn|MRN-'),
      Buffer.from([0xff]),
      Buffer.from(`,${GRANTEE},TREAT,labs,2026-01-01,2027-03-01,c-v2\n`),
      Buffer.from(row('v3')),
    ])
    expectRead(await readAll(write('utf.csv', data)), {codes: ['E_INVALID_UTF8'], consents: 2})
  })

  it('a line over the cap: E_LINE_TOO_LONG, the neighbours are read', async () => {
    const long = `{"resourceType":"Consent","id":"long","text":{"status":"generated","div":"${'x'.repeat(2 * 1024 * 1024)}"}}`
    expectRead(await readAll(write('long.ndjson', `${line('l1')}\n${long}\n${line('l2')}\n`), {maxLineBytes: 1024 * 1024}), {
      codes: ['E_LINE_TOO_LONG'],
      consents: 2,
    })
  })
})
