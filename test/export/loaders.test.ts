import {parse} from 'csv-parse/sync'
import {parquetMetadata, parquetReadObjects} from 'hyparquet'
import {describe, expect, it} from 'vitest'

import {TABLE_COLUMNS, TABLE_NAMES, renderDataset, tableSchema, type RenderedFile, type TableName} from '../../src/lib/export/index.js'
import {exportAll} from '../deid/helpers.js'
import {loadSyntheaPatients} from '../deid/synthea.js'

/**
 * Issue 14, 4: tables a researcher loads without options. Every CSV and Parquet file is read
 * back with readers medctl does not write (csv-parse, hyparquet) against one declared schema,
 * the same in both formats, in the manifest and in schema.sql.
 */
const {result, files} = exportAll(loadSyntheaPatients())

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

const CELL: Record<string, RegExp> = {
  VARCHAR: /^[\s\S]*$/,
  INTEGER: /^-?\d+$/,
  DOUBLE: /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i,
  BOOLEAN: /^(true|false)$/,
}

describe('research tables load with independent readers against one declared schema', () => {
  it('writes schema.sql beside the tables: a DuckDB CREATE TABLE and a load statement per table', () => {
    for (const format of ['csv', 'parquet'] as const) {
      const sql = files[format].find((f) => f.path === 'schema.sql')
      expect(sql, format).toBeDefined()
      const text = Buffer.from(sql!.bytes).toString('utf8')
      for (const t of TABLE_NAMES) {
        const cols = TABLE_COLUMNS[t].map((c) => c.name).join('|')
        expect(text).toMatch(
          new RegExp(`CREATE TABLE ${t} \\(\\n(  (${cols}) (VARCHAR|INTEGER|DOUBLE|BOOLEAN),?\\n){${TABLE_COLUMNS[t].length}}\\);`),
        )
        expect(text).toContain(format === 'csv' ? `COPY ${t} FROM '${t}.csv'` : `read_parquet('${t}.parquet')`)
      }
      expect(text).toMatch(/zip3 VARCHAR/)
      expect(text).not.toContain("'study-42/*")
    }
  })

  it('every CSV parses with csv-parse: header = schema, every cell fits its declared type (codes and zip3 text, years INTEGER only in birth_year)', () => {
    const schema = tableSchema()
    for (const t of TABLE_NAMES) {
      const f = files.csv.find((x) => x.path === `${t}.csv`) as RenderedFile
      const rows = parse(Buffer.from(f.bytes), {bom: false, relax_column_count: false}) as string[][]
      expect(rows[0], t).toEqual(schema[t].map((c) => c.name))
      expect(rows.length - 1, t).toBe(f.rows)
      for (const row of rows.slice(1)) {
        row.forEach((cell, i) => {
          if (cell !== '') expect(cell, `${t}.${schema[t][i].name}`).toMatch(CELL[schema[t][i].type])
        })
      }
    }
    expect(tableSchema().patients.find((c) => c.name === 'zip3')?.type).toBe('VARCHAR')
    expect(tableSchema().observations.find((c) => c.name === 'effective')?.type).toBe('VARCHAR')
    expect(tableSchema().observations.find((c) => c.name === 'code')?.type).toBe('VARCHAR')
  })

  it('every Parquet file has exactly the declared columns and types (hyparquet metadata), and reads back', async () => {
    const physical: Record<string, string> = {VARCHAR: 'BYTE_ARRAY', INTEGER: 'INT32', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN'}
    const schema = tableSchema()
    for (const t of TABLE_NAMES) {
      const f = files.parquet.find((x) => x.path === `${t}.parquet`) as RenderedFile
      const meta = parquetMetadata(arrayBuffer(f.bytes))
      const leaves = meta.schema.slice(1)
      expect(
        leaves.map((c) => c.name),
        t,
      ).toEqual(schema[t].map((c) => c.name))
      leaves.forEach((c, i) => {
        expect(c.type, `${t}.${c.name}`).toBe(physical[schema[t][i].type])
        if (schema[t][i].type === 'VARCHAR') expect(c.converted_type ?? c.logical_type?.type, `${t}.${c.name}`).toMatch(/UTF8|STRING/)
      })
      expect(await parquetReadObjects({file: arrayBuffer(f.bytes)})).toHaveLength(f.rows)
    }
  })

  it('writes tables only for the requested classes (patients always)', () => {
    const paths = (classes: Parameters<typeof renderDataset>[2]) => renderDataset(result.patients, 'csv', classes).map((f) => f.path)
    expect(paths({classes: ['demographics', 'labs']})).toEqual(['observations.csv', 'patients.csv', 'schema.sql'])
    expect(paths({classes: ['demographics', 'immunizations']})).toEqual(['immunizations.csv', 'patients.csv', 'schema.sql'])
    const sql = Buffer.from(
      renderDataset(result.patients, 'parquet', {classes: ['labs']}).find((f) => f.path === 'schema.sql')!.bytes,
    ).toString()
    expect(sql).not.toContain('CREATE TABLE immunizations')
    const names: TableName[] = ['patients', 'observations']
    for (const n of names) expect(sql).toContain(`CREATE TABLE ${n}`)
  })
})
