import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseEnvelope, repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const fixtures = join(repoRoot, 'test', 'fixtures', 'records')

interface ImportResult {
  read: number
  imported: number
  duplicates: number
  rejected: number
  patients: number
  objects: number
  report: string | null
  dryRun: boolean
}

function reportLines(
  path: string,
): Array<{file: string; line?: number; entry?: number; code: string; message: string; resourceType?: string; id?: string}> {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
}

describe('records import: bad input gets a code and a location, its neighbours still import', () => {
  let t: TestHome
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
  })
  afterAll(async () => t.cleanup())

  it('--dry-run validates and writes nothing', async () => {
    const {envelope, exitCode} = await runJson<ImportResult>(['records', 'import', join(fixtures, 'mixed.ndjson'), '--dry-run'])
    expect(exitCode).toBe(3)
    expect(envelope.result).toMatchObject({dryRun: true, imported: 3, rejected: 7, objects: 0, report: null})
    // It says why, line by line, even without --report.
    const rejects = (envelope.result as {rejects?: Array<{line?: number; code: string}>}).rejects ?? []
    expect(rejects).toHaveLength(7)
    expect(rejects.every((r) => typeof r.line === 'number' && /^E_/.test(r.code))).toBe(true)
    const listed = await runJson<{patients: unknown[]}>(['records', 'list'])
    expect(listed.envelope.result.patients).toHaveLength(0)
  })

  it('a mixed NDJSON file: every malformed line rejected with its code and line, the valid ones imported (exit 3)', async () => {
    const report = join(t.home, 'mixed-report.ndjson')
    const {envelope, exitCode} = await runJson<ImportResult>(['records', 'import', join(fixtures, 'mixed.ndjson'), '--report', report])
    expect(exitCode).toBe(3)
    expect(envelope.warnings.join(' ')).toContain('rejected')
    const r = envelope.result
    expect(r).toMatchObject({read: 10, imported: 3, duplicates: 0, rejected: 7, patients: 1, report})
    expect(r.read).toBe(r.imported + r.duplicates + r.rejected)
    const byLine = new Map(reportLines(report).map((l) => [l.line, l]))
    expect(byLine.get(3)?.code).toBe('E_INVALID_JSON')
    expect(byLine.get(4)?.code).toBe('E_UNKNOWN_RESOURCE_TYPE')
    expect(byLine.get(5)).toMatchObject({
      code: 'E_INVALID_PRIMITIVE',
      resourceType: 'Patient',
      id: expect.stringMatching(/^id:[0-9a-f]{16}$/),
    })
    expect(byLine.get(5)?.message).toMatch(/birthDate|active/)
    expect(byLine.get(6)).toMatchObject({code: 'E_DANGLING_REFERENCE', resourceType: 'Condition'})
    expect(byLine.get(6)?.message).toContain('subject')
    expect(byLine.get(7)).toMatchObject({code: 'E_MISSING_REQUIRED', resourceType: 'Observation'})
    expect(byLine.get(8)?.code).toBe('E_BINARY_INPUT')
    expect(byLine.get(9)?.code).toBe('E_NOT_A_RESOURCE')
    // No file names, ids or quoted lines in the report: keyed references, which the result maps back to the path.
    const ref = reportLines(report)[0]?.file
    for (const line of byLine.values()) expect(line.file).toBe(ref)
    expect(ref).toMatch(/^file:[0-9a-f]{16}$/)
    expect((r as ImportResult & {rejectedFiles: unknown[]}).rejectedFiles).toEqual([
      {ref, path: join(fixtures, 'mixed.ndjson'), rejected: 7},
    ])
    const text = readFileSync(report, 'utf8')
    for (const value of ['mixed', 'p2', 'broken', 'Nonsense', 'yesterday', 'dead', 'MRN-']) expect(text).not.toContain(value)
  })

  it('an empty file and a binary file each get one reject; exit 3 even with nothing imported', async () => {
    const empty = await runJson<ImportResult>(['records', 'import', join(fixtures, 'empty.ndjson'), join(fixtures, 'garbage.json')])
    expect(empty.exitCode).toBe(3)
    expect(empty.envelope.result).toMatchObject({read: 2, imported: 0, rejected: 2})
    const codes = reportLines(empty.envelope.result.report as string).map((l) => l.code)
    expect(codes).toEqual(['E_EMPTY_INPUT', 'E_BINARY_INPUT'])
  })

  it('gzipped Bulk Data NDJSON imports (and its lines are duplicates of the mixed file)', async () => {
    const {envelope, exitCode} = await runJson<ImportResult>(['records', 'import', join(fixtures, 'bulk.ndjson.gz')])
    expect(exitCode).toBe(0)
    expect(envelope.result).toMatchObject({read: 2, imported: 0, duplicates: 2})
  })

  it('stdin with --file -', () => {
    const p = readFileSync(join(fixtures, 'mixed.ndjson'), 'utf8').split('\n')[0] as string
    const patient = JSON.parse(p) as {id: string; identifier: Array<{value: string}>}
    patient.id = 'p9'
    patient.identifier[0]!.value = 'MRN-0009'
    const r = runBin(['records', 'import', '--file', '-', '--json'], {env: t.env, input: `${JSON.stringify(patient)}\n`})
    expect(r.status, r.stderr).toBe(0)
    expect(parseEnvelope<ImportResult>(r.stdout).result).toMatchObject({read: 1, imported: 1, patients: 1})
  })

  it('CSV with a mapping: rows become Patient, Observation, Condition, MedicationStatement; a row without an MRN is rejected', async () => {
    const {envelope, exitCode} = await runJson<ImportResult>([
      'records',
      'import',
      join(fixtures, 'legacy.csv'),
      '--mapping',
      join(fixtures, 'legacy-mapping.json'),
    ])
    expect(exitCode).toBe(3)
    expect(envelope.result).toMatchObject({imported: 6, rejected: 1, patients: 2})
    expect(reportLines(envelope.result.report as string)[0]).toMatchObject({line: 4, code: 'E_CSV_ROW'})
    const shown = await runJson<{resources: number}>([
      'records',
      'show',
      '--patient',
      'http://legacy.example/mrn|A-100',
      '--out',
      join(t.home, 'a100.json'),
    ])
    expect(shown.envelope.result.resources).toBe(4)
    const types = (JSON.parse(readFileSync(join(t.home, 'a100.json'), 'utf8')) as {entry: Array<{resource: {resourceType: string}}>}).entry
      .map((e) => e.resource.resourceType)
      .sort()
    expect(types).toEqual(['Condition', 'MedicationStatement', 'Observation', 'Patient'])
  })

  it('a line over --max-line-mb (MEDCTL_MAX_LINE_MB) in a file named after a patient: exit 3 with an envelope, neighbours imported; nothing under the home names the file', () => {
    const dir = join(t.home, 'in')
    mkdirSync(dir, {recursive: true})
    const file = join(dir, 'Carolee951_Sanford861.ndjson')
    const p = JSON.parse(readFileSync(join(fixtures, 'mixed.ndjson'), 'utf8').split('\n')[0] as string) as {
      id: string
      identifier: Array<{value: string}>
      name: Array<{family: string}>
    }
    p.id = 'p-long'
    p.identifier[0]!.value = 'MRN-LONG-1'
    const long = JSON.stringify({
      resourceType: 'Observation',
      id: 'o-long',
      status: 'final',
      code: {text: 'x'.repeat(2 * 1024 * 1024)},
      subject: {reference: 'Patient/p-long'},
    })
    writeFileSync(file, `${JSON.stringify(p)}\n${long}\n`)
    const r = runBin(['records', 'import', file, '--no-anchor', '--json'], {env: {...t.env, MEDCTL_MAX_LINE_MB: '1'}})
    expect(r.status, r.stderr).toBe(3)
    expect(r.stderr).not.toMatch(/RangeError|at .*\.js:\d+/)
    const result = parseEnvelope<ImportResult & {rejectedFiles: Array<{ref: string; path: string}>}>(r.stdout).result
    expect(result).toMatchObject({read: 2, imported: 1, rejected: 1})
    expect(result.rejectedFiles[0]?.path).toBe(file)
    expect(reportLines(result.report as string)).toEqual([
      expect.objectContaining({line: 2, code: 'E_LINE_TOO_LONG', file: result.rejectedFiles[0]?.ref}),
    ])
    // No file under the home (reports, audit log, database, node state) holds the file's name.
    const walk = (d: string): string[] =>
      readdirSync(d, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []))
    for (const f of walk(join(t.home, 'data')).concat(walk(join(t.home, 'config'))))
      expect(readFileSync(f).includes('Carolee951'), f).toBe(false)
  })

  it('usage errors: a CSV without --mapping, a missing path, no input at all — exit 2, nothing imported', async () => {
    expect((await runJson(['records', 'import', join(fixtures, 'legacy.csv')])).envelope.error).toMatchObject({
      code: 'E_CSV_MAPPING',
      exitCode: 2,
    })
    expect((await runJson(['records', 'import', join(fixtures, 'nope.ndjson')])).envelope.error).toMatchObject({
      code: 'E_FILE_NOT_FOUND',
      exitCode: 2,
    })
    expect((await runJson(['records', 'import'])).envelope.error).toMatchObject({code: 'E_NO_INPUT', exitCode: 2})
  })
})
