import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {DuckDBInstance, type DuckDBConnection} from '@duckdb/node-api'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TABLE_NAMES, tableSchema, type RenderedFile} from '../../src/lib/export/index.js'
import {exportAll, tmp} from '../deid/helpers.js'
import {loadSyntheaPatients} from '../deid/synthea.js'
import {repoRoot} from '../helpers/cli.js'

/**
 * Issue 14, Done when: "DuckDB's and pandas' defaults load every table, and the README's example
 * queries run". The queries are read from the README's "Loading the tables" block and run as
 * written by DuckDB itself (its Node binding, the engine of the `duckdb` CLI), and the README's
 * pandas CSV line by pandas, on a research export of the samples.
 */
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const section = readme.slice(readme.indexOf('**Loading the tables.**'))
const shBlock = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
const pyBlock = /```python\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
/** Each `duckdb [FILE.db] -c "SQL"` of the block, with the folder it runs in (`cd DIR &&`). */
const commands = [...shBlock.matchAll(/(?:cd (\S+) && )?duckdb(?: \S+\.db)? -c "([\s\S]*?)"/g)].map((m) => ({
  cwd: m[1],
  sql: m[2] as string,
}))

const {files} = exportAll(loadSyntheaPatients())
const root = tmp('readme-loaders')
const study = join(root, 'study-42')
const csvStudy = join(root, 'study-42-csv')

function writeExport(dir: string, rendered: RenderedFile[]): void {
  mkdirSync(dir, {recursive: true})
  for (const f of rendered) writeFileSync(join(dir, f.path), f.bytes)
}

const rowsOf = (format: 'csv' | 'parquet', table: string): number =>
  (files[format].find((f) => f.path === `${table}.${format}`) as RenderedFile).rows ?? -1

let db: DuckDBConnection
const cwd = process.cwd()

/** Runs SQL in `dir` (DuckDB resolves relative paths against the process's folder). */
async function inDir<T>(dir: string, run: () => Promise<T>): Promise<T> {
  process.chdir(dir)
  try {
    return await run()
  } finally {
    process.chdir(cwd)
  }
}

beforeAll(async () => {
  writeExport(study, files.parquet)
  writeExport(csvStudy, files.csv)
  db = await (await DuckDBInstance.create(':memory:')).connect()
})
afterAll(() => {
  db?.closeSync()
  rmSync(root, {recursive: true, force: true})
})

describe("the README's loading examples, run by DuckDB and pandas on an export of the samples", () => {
  it('the README block names the three DuckDB commands it shows', () => {
    expect(commands.map((c) => c.sql.split(/\s+/)[0])).toEqual(['.read', 'SELECT', 'SELECT'])
    expect(commands[0]?.cwd).toBe('study-42')
  })

  it('.read schema.sql (as `cd study-42 && duckdb study.db -c ".read schema.sql"`) makes every table with its declared types, for Parquet and CSV', async () => {
    for (const [dir, format] of [
      [study, 'parquet'],
      [csvStudy, 'csv'],
    ] as const) {
      const conn = await (await DuckDBInstance.create(':memory:')).connect()
      try {
        await inDir(dir, () => conn.run(readFileSync(join(dir, 'schema.sql'), 'utf8')))
        const schema = tableSchema()
        for (const t of TABLE_NAMES) {
          const described = (await conn.runAndReadAll(`DESCRIBE ${t}`)).getRowObjects() as Array<{column_name: string; column_type: string}>
          expect(
            described.map((c) => [c.column_name, c.column_type]),
            `${format} ${t}`,
          ).toEqual(schema[t].map((c) => [c.name, c.type]))
          const [[count]] = (await conn.runAndReadAll(`SELECT count(*) FROM ${t}`)).getRows() as bigint[][]
          expect(Number(count), `${format} ${t}`).toBe(rowsOf(format, t))
        }
      } finally {
        conn.closeSync()
      }
    }
  })

  it('the two SELECT examples run as written: a join of patients and observations, and one count over every file by union_by_name', async () => {
    const [join_, union] = [commands[1]?.sql as string, commands[2]?.sql as string]
    const joined = await inDir(root, async () => (await db.runAndReadAll(join_)).getRows())
    expect(joined.length).toBeGreaterThan(0)
    const total = await inDir(root, async () => (await db.runAndReadAll(union)).getRows())
    expect(Number(total[0]?.[0])).toBe(TABLE_NAMES.reduce((n, t) => n + rowsOf('parquet', t), 0))
  })

  it("DuckDB's defaults (no options, no schema) load every table of both formats", async () => {
    for (const t of TABLE_NAMES) {
      for (const [dir, format] of [
        [study, 'parquet'],
        [csvStudy, 'csv'],
      ] as const) {
        if (rowsOf(format, t) === 0) continue // a header-only CSV has no rows to infer from; the schema covers it
        const [[count]] = (await db.runAndReadAll(`SELECT count(*) FROM '${join(dir, `${t}.${format}`)}'`)).getRows() as bigint[][]
        expect(Number(count), `${format} ${t}`).toBe(rowsOf(format, t))
      }
    }
  })

  it("pandas' read_csv line from the README loads the observations with codes as text", () => {
    const line = pyBlock.split('\n').find((l) => l.includes('read_csv'))
    expect(line).toBeDefined()
    const script = [
      'import pandas as pd',
      line?.replace('study-42/', 'study-42-csv/') ?? '',
      "print(len(obs), obs['code'].dtype, obs['effective'].dtype)",
    ].join('\n')
    // The Python that has pandas: the one on PATH, else Debian's (where `apt-get install python3-pandas` puts it).
    const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import pandas'], {encoding: 'utf8'}).status === 0)
    expect(python, 'pandas is installed (.ci/run installs python3-pandas)').toBeDefined()
    const run = spawnSync(python as string, ['-c', script], {cwd: root, encoding: 'utf8'})
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe(`${rowsOf('csv', 'observations')} object object`)
  })
})
