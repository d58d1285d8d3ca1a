import {execFileSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {gzipSync} from 'node:zlib'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {isWellFormed} from '../../src/lib/fhir/lines.js'
import {loadCsvMapping, loadDefinitions} from '../../src/lib/fhir/index.js'
import type {ImportOptions, ImportResult} from '../../src/lib/vault/import.js'
import {repoRoot} from '../helpers/cli.js'
import {freshVault, neighbours, type Vault} from './vault-helper.js'

const corpus = join(repoRoot, 'test', 'fixtures', 'bad', 'records')

interface Case {
  files: string[]
  codes: string[]
  imported: number
  note?: string
  mapping?: string
  options?: Partial<ImportOptions>
}

/** What every import of a bad input must show, whatever the input. */
async function expectSurvived(
  vault: Vault,
  result: ImportResult,
  expected: {codes: string[]; imported: number},
  names: string[],
): Promise<void> {
  const lines = vault.reportLines()
  const codes = [...new Set(lines.map((l) => l.code))].sort()
  expect(codes, JSON.stringify(lines.slice(0, 5))).toEqual([...new Set(expected.codes)].sort())
  // Valid neighbours still import; every item is accounted for.
  if (expected.imported >= 0) expect(result.imported, JSON.stringify(lines.slice(0, 5))).toBe(expected.imported)
  expect(result.read).toBe(result.imported + result.duplicates + result.rejected)
  expect(result.rejected).toBe(lines.length)
  // The job always ends finished: never left running.
  const jobs = vault.jobs()
  expect(jobs.at(-1)?.status).toBe(expected.codes.length > 0 ? 'partial' : 'done')
  // Nothing stored holds a replacement character or a lone surrogate.
  const stored = JSON.stringify(await vault.stored())
  expect(stored).not.toContain('\uFFFD')
  expect(isWellFormed(stored)).toBe(true)
  // The report names no file, quotes no line, holds no MRN or unknown element name.
  const report = lines.length > 0 ? readFileSync(vault.report, 'utf8') : ''
  for (const name of names) {
    expect(report).not.toContain(name)
    expect(report).not.toContain(basename(name))
  }
  expect(report).not.toMatch(/Secret|Quixote|MRN-|Rocinante|pwned|passwd|evil\.example/)
  for (const line of lines) {
    expect(line.file).toMatch(/^(file:[0-9a-f]{16}|stdin)$/)
    if (line.id !== undefined) expect(line.id).toMatch(/^id:[0-9a-f]{16}$/)
  }
  // Write-ahead audit: every committed object was named by an intent entry before its commit; the job's outcome is logged.
  const intents = new Set(vault.audit.filter((e) => e.detail.phase === 'intent').flatMap((e) => e.cids ?? []))
  const objects = vault.db.prepare('SELECT cid FROM objects').all() as Array<{cid: string}>
  for (const {cid} of objects) expect(intents.has(cid)).toBe(true)
  expect(vault.audit.at(-1)?.detail).toMatchObject({phase: 'finished', rejected: result.rejected})
}

describe('bad-input corpus (test/fixtures/bad/records): every kind rejected with its code, neighbours imported, job finished', () => {
  const cases = JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')) as Case[]
  beforeAll(() => loadDefinitions())

  it('holds at least 75 committed kinds', () => {
    expect(cases.length).toBeGreaterThanOrEqual(75)
  })

  for (const c of cases) {
    it(`${c.files[0]}${c.note ? ` (${c.note})` : ''}: ${c.codes.join(', ') || 'clean'}`, async () => {
      const vault = await freshVault()
      try {
        const sources = c.files.map((f) => join(corpus, f))
        const mapping = c.mapping ? loadCsvMapping(join(corpus, c.mapping)) : undefined
        const result = await vault.import(sources, {...(mapping ? {mapping} : {}), ...c.options})
        await expectSurvived(vault, result, c, sources)
        if (c.codes.length > 0)
          expect(result.rejectedFiles.map((f) => f.path)).toEqual(expect.arrayContaining([join(corpus, c.files[0] as string)]))
      } finally {
        vault.cleanup()
      }
    })
  }
})

describe('bad-input corpus, generated at run time (binary, gzip, huge, links)', () => {
  let dir: string
  let counter = 0
  beforeAll(() => {
    loadDefinitions()
    dir = mkdtempSync(join(tmpdir(), 'medctl-bad-'))
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  /** A case directory holding the files `make` writes, imported in one run. */
  async function runCase(
    make: (at: string) => string[],
    expected: {codes: string[]; imported: number},
    options: Partial<ImportOptions> = {},
  ): Promise<{vault: Vault; result: ImportResult}> {
    const at = join(dir, `case-${++counter}`)
    mkdirSync(at)
    const sources = make(at)
    const vault = await freshVault()
    try {
      const result = await vault.import(sources, options)
      await expectSurvived(vault, result, expected, sources)
      return {vault, result}
    } finally {
      vault.cleanup()
    }
  }

  const ndjson = (...lines: Array<string | Buffer>): Buffer =>
    Buffer.concat(lines.map((l) => Buffer.concat([Buffer.isBuffer(l) ? l : Buffer.from(l), Buffer.from('\n')])))

  it('a 0-byte .ndjson.gz: E_EMPTY_INPUT, the other file imports', async () => {
    await runCase(
      (at) => {
        writeFileSync(join(at, 'empty.ndjson.gz'), '')
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('gz0').lines))
        return [join(at, 'empty.ndjson.gz'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_EMPTY_INPUT'], imported: 2},
    )
  })

  it('a .ndjson.gz that is not gzip: E_NOT_GZIP', async () => {
    await runCase(
      (at) => {
        writeFileSync(join(at, 'plain.ndjson.gz'), ndjson(...neighbours('gzn').lines))
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('gzn2').lines))
        return [join(at, 'plain.ndjson.gz'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_NOT_GZIP'], imported: 2},
    )
  })

  it('a truncated .ndjson.gz: the lines before the cut import, then E_GZIP_TRUNCATED', async () => {
    const {result} = await runCase(
      (at) => {
        const n = neighbours('gzt')
        const filler = Array.from({length: 3000}, (_, i) =>
          JSON.stringify({...n.observation, id: `f-${i}`, note: [{text: randomBytes(24).toString('hex')}]}),
        )
        const gz = gzipSync(ndjson(...n.lines, ...filler))
        writeFileSync(join(at, 'cut.ndjson.gz'), gz.subarray(0, Math.floor(gz.length * 0.6)))
        return [join(at, 'cut.ndjson.gz')]
      },
      {codes: ['E_GZIP_TRUNCATED'], imported: -1},
    )
    expect(result.imported).toBeGreaterThan(2)
    expect(result.rejected).toBe(1)
  })

  it('a corrupted .ndjson.gz (flipped bytes mid-stream): E_GZIP_CORRUPT, nothing read from it (its lines cannot be trusted), the other file imports', async () => {
    await runCase(
      (at) => {
        const n = neighbours('gzc')
        const filler = Array.from({length: 3000}, (_, i) =>
          JSON.stringify({...n.observation, id: `f-${i}`, note: [{text: randomBytes(24).toString('hex')}]}),
        )
        const gz = gzipSync(ndjson(...n.lines, ...filler))
        for (let i = Math.floor(gz.length / 2); i < Math.floor(gz.length / 2) + 64; i++) gz[i] = (gz[i] as number) ^ 0xa5
        writeFileSync(join(at, 'bad.ndjson.gz'), gz)
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('gzc2').lines))
        return [join(at, 'bad.ndjson.gz'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_GZIP_CORRUPT'], imported: 2},
    )
  })

  it('a .ndjson.gz whose CRC does not match (one flipped byte in the trailer): E_GZIP_CORRUPT', async () => {
    await runCase(
      (at) => {
        const gz = gzipSync(ndjson(...neighbours('crc').lines))
        gz[gz.length - 6] = (gz[gz.length - 6] as number) ^ 0xff
        writeFileSync(join(at, 'crc.ndjson.gz'), gz)
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('crc2').lines))
        return [join(at, 'crc.ndjson.gz'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_GZIP_CORRUPT'], imported: 2},
    )
  })

  it("a .ndjson.gz with junk after the gzip member: the member's lines import (its CRC checked), the junk is E_GZIP_TRAILING_DATA, the other file imports", async () => {
    await runCase(
      (at) => {
        writeFileSync(
          join(at, 'tail.ndjson.gz'),
          Buffer.concat([gzipSync(ndjson(...neighbours('gzg').lines)), Buffer.from('this is not gzip')]),
        )
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('gzg2').lines))
        return [join(at, 'tail.ndjson.gz'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_GZIP_TRAILING_DATA'], imported: 4},
    )
  })

  it('a multi-member .ndjson.gz (concatenated gzip files) is clean', async () => {
    await runCase(
      (at) => {
        const n = neighbours('gzm')
        writeFileSync(
          join(at, 'multi.ndjson.gz'),
          Buffer.concat([gzipSync(ndjson(n.lines[0] as string)), gzipSync(ndjson(n.lines[1] as string))]),
        )
        return [join(at, 'multi.ndjson.gz')]
      },
      {codes: [], imported: 2},
    )
  })

  it('a single line longer than the cap: E_LINE_TOO_LONG (no RangeError), neighbours imported', async () => {
    await runCase(
      (at) => {
        const n = neighbours('long')
        const long = JSON.stringify({...n.observation, id: 'o-long-2', note: [{text: 'x'.repeat(3 * 1024 * 1024)}]})
        writeFileSync(join(at, 'long.ndjson'), ndjson(n.lines[0] as string, long, n.lines[1] as string))
        return [join(at, 'long.ndjson')]
      },
      {codes: ['E_LINE_TOO_LONG'], imported: 2},
      {maxLineBytes: 1024 * 1024},
    )
  })

  it('a last line longer than the cap without a final newline: E_LINE_TOO_LONG', async () => {
    await runCase(
      (at) => {
        writeFileSync(
          join(at, 'long-tail.ndjson'),
          Buffer.concat([ndjson(...neighbours('longt').lines), Buffer.alloc(2 * 1024 * 1024, 0x61)]),
        )
        return [join(at, 'long-tail.ndjson')]
      },
      {codes: ['E_LINE_TOO_LONG'], imported: 2},
      {maxLineBytes: 1024 * 1024},
    )
  })

  it('a whole-JSON file over the size cap: E_FILE_TOO_LARGE', async () => {
    await runCase(
      (at) => {
        writeFileSync(
          join(at, 'big.json'),
          JSON.stringify({
            resourceType: 'Bundle',
            type: 'collection',
            entry: [{resource: {resourceType: 'Basic', code: {text: 'y'.repeat(2 * 1024 * 1024)}}}],
          }),
        )
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('bigj').lines))
        return [join(at, 'big.json'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_FILE_TOO_LARGE'], imported: 2},
      {maxJsonBytes: 1024 * 1024},
    )
  })

  it('invalid UTF-8 in a line: E_INVALID_UTF8, nothing stored with U+FFFD', async () => {
    await runCase(
      (at) => {
        const n = neighbours('utf')
        const bad = Buffer.concat([
          Buffer.from('{"resourceType":"Patient","id":"p-utf-2","identifier":[{"system":"http://hospital.example/mrn","value":"MRN-'),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"}]}'),
        ])
        writeFileSync(join(at, 'utf.ndjson'), ndjson(n.lines[0] as string, bad, n.lines[1] as string))
        return [join(at, 'utf.ndjson')]
      },
      {codes: ['E_INVALID_UTF8'], imported: 2},
    )
  })

  it('an overlong UTF-8 encoding and a UTF-16 surrogate encoded in UTF-8 (CESU): E_INVALID_UTF8', async () => {
    await runCase(
      (at) => {
        const n = neighbours('utf2')
        const overlong = Buffer.concat([
          Buffer.from('{"resourceType":"Basic","id":"b1","code":{"text":"'),
          Buffer.from([0xc0, 0xaf]),
          Buffer.from('"}}'),
        ])
        const cesu = Buffer.concat([
          Buffer.from('{"resourceType":"Basic","id":"b2","code":{"text":"'),
          Buffer.from([0xed, 0xa0, 0x80]),
          Buffer.from('"}}'),
        ])
        writeFileSync(join(at, 'utf2.ndjson'), ndjson(n.lines[0] as string, overlong, cesu, n.lines[1] as string))
        return [join(at, 'utf2.ndjson')]
      },
      {codes: ['E_INVALID_UTF8'], imported: 2},
    )
  })

  it('invalid UTF-8 in a whole JSON file: E_INVALID_UTF8', async () => {
    await runCase(
      (at) => {
        writeFileSync(
          join(at, 'bad.json'),
          Buffer.concat([Buffer.from('{"resourceType":"Basic","id":"b3","code":{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]),
        )
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('utfj').lines))
        return [join(at, 'bad.json'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_INVALID_UTF8'], imported: 2},
    )
  })

  it('invalid UTF-8 in a CSV row: E_INVALID_UTF8, the other rows import', async () => {
    await runCase(
      (at) => {
        const header = 'mrn,last_name,first_name,dob,sex,zip,visit_date,hba1c,dx_code,dx_name,rx_code,rx_name'
        const row = (mrn: string, name: Buffer | string = 'Pedro') =>
          Buffer.concat([
            Buffer.from(`${mrn},Rocinante,`),
            Buffer.isBuffer(name) ? name : Buffer.from(name),
            Buffer.from(',1961-02-03,M,02139,2023-05-01,6.1,,,,'),
          ])
        writeFileSync(join(at, 'utf.csv'), ndjson(header, row('U-1'), row('U-2', Buffer.from([0x50, 0xe9, 0x64])), row('U-3')))
        return [join(at, 'utf.csv')]
      },
      {codes: ['E_INVALID_UTF8'], imported: 4},
      {mapping: loadCsvMapping(join(corpus, 'csv-mapping.json'))},
    )
  })

  it('a CSV row over the cap: E_LINE_TOO_LONG, the other rows import', async () => {
    await runCase(
      (at) => {
        const header = 'mrn,last_name,first_name,dob,sex,zip,visit_date,hba1c,dx_code,dx_name,rx_code,rx_name'
        writeFileSync(
          join(at, 'long.csv'),
          ndjson(
            header,
            'L-1,Rocinante,Pedro,1961-02-03,M,02139,2023-05-01,6.1,,,,',
            `L-2,${'R'.repeat(300_000)},Pedro,1961-02-03,M,02139,2023-05-01,6.1,,,,`,
            'L-3,Rocinante,Pedro,1961-02-03,M,02139,2023-05-01,6.1,,,,',
          ),
        )
        return [join(at, 'long.csv')]
      },
      {codes: ['E_LINE_TOO_LONG'], imported: 4},
      {mapping: loadCsvMapping(join(corpus, 'csv-mapping.json')), maxLineBytes: 64 * 1024},
    )
  })

  it('NUL bytes in a line: E_BINARY_INPUT', async () => {
    await runCase(
      (at) => {
        const n = neighbours('nul')
        writeFileSync(
          join(at, 'nul.ndjson'),
          ndjson(n.lines[0] as string, Buffer.from([0x7b, 0x00, 0x00, 0x01, 0x7d]), n.lines[1] as string),
        )
        return [join(at, 'nul.ndjson')]
      },
      {codes: ['E_BINARY_INPUT'], imported: 2},
    )
  })

  it('a binary .json file (random bytes): one reject, the other file imports', async () => {
    const {vault} = await runCase(
      (at) => {
        writeFileSync(join(at, 'random.json'), Buffer.concat([Buffer.from([0x00]), randomBytes(4096)]))
        writeFileSync(join(at, 'ok.ndjson'), ndjson(...neighbours('rnd').lines))
        return [join(at, 'random.json'), join(at, 'ok.ndjson')]
      },
      {codes: ['E_BINARY_INPUT'], imported: 2},
    )
    expect(vault).toBeDefined()
  })

  it('nested arrays a million deep on one line: E_TOO_DEEP, no stack overflow', async () => {
    await runCase(
      (at) => {
        const n = neighbours('deep')
        writeFileSync(
          join(at, 'deep.ndjson'),
          ndjson(
            n.lines[0] as string,
            `{"resourceType":"Basic","code":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`,
            n.lines[1] as string,
          ),
        )
        return [join(at, 'deep.ndjson')]
      },
      {codes: ['E_TOO_DEEP'], imported: 2},
    )
  })

  it('a symbolic link to a file inside a directory: skipped and reported (E_SYMLINK_SKIPPED), never silently', async () => {
    await runCase(
      (at) => {
        const outside = join(at, 'outside')
        const input = join(at, 'input')
        mkdirSync(outside)
        mkdirSync(input)
        writeFileSync(join(outside, 'secret.ndjson'), ndjson(...neighbours('outside').lines))
        writeFileSync(join(input, 'a.ndjson'), ndjson(...neighbours('lnk').lines))
        symlinkSync(join(outside, 'secret.ndjson'), join(input, 'Quixote-link.ndjson'))
        return [input]
      },
      {codes: ['E_SYMLINK_SKIPPED'], imported: 2},
    )
  })

  it('a symbolic link to a directory (a loop) inside a directory: skipped and reported', async () => {
    await runCase(
      (at) => {
        const input = join(at, 'input')
        mkdirSync(input)
        writeFileSync(join(input, 'a.ndjson'), ndjson(...neighbours('loop').lines))
        symlinkSync(input, join(input, 'loop'))
        return [input]
      },
      {codes: ['E_SYMLINK_SKIPPED'], imported: 2},
    )
  })

  it('a FIFO named .ndjson inside a directory: E_NOT_A_REGULAR_FILE (never blocks)', async () => {
    await runCase(
      (at) => {
        const input = join(at, 'input')
        mkdirSync(input)
        writeFileSync(join(input, 'a.ndjson'), ndjson(...neighbours('fifo').lines))
        execFileSync('mkfifo', [join(input, 'b.ndjson')])
        return [input]
      },
      {codes: ['E_NOT_A_REGULAR_FILE'], imported: 2},
    )
  })

  it('a symbolic link the user names explicitly is followed', async () => {
    await runCase(
      (at) => {
        writeFileSync(join(at, 'target.ndjson'), ndjson(...neighbours('named').lines))
        symlinkSync(join(at, 'target.ndjson'), join(at, 'named.ndjson'))
        return [join(at, 'named.ndjson')]
      },
      {codes: [], imported: 2},
    )
  })

  it('a file named after a patient: the report holds a keyed reference, the result maps it back', async () => {
    const at = join(dir, 'phi-name')
    mkdirSync(at)
    const file = join(at, 'Carolee951_Sanford861_d88f994a.ndjson')
    writeFileSync(file, ndjson(...neighbours('phi').lines, '{"broken'))
    const vault = await freshVault()
    try {
      const result = await vault.import([file])
      const report = readFileSync(vault.report, 'utf8')
      expect(report).not.toMatch(/Carolee|Sanford|d88f994a|phi-name/)
      const line = vault.reportLines()[0] as {file: string; line: number; code: string}
      expect(line).toMatchObject({line: 3, code: 'E_INVALID_JSON'})
      expect(result.rejectedFiles).toEqual([{ref: line.file, path: file, rejected: 1}])
    } finally {
      vault.cleanup()
    }
  })
})
