import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Wallet, verifyMessage} from 'ethers'
import {parquetReadObjects} from 'hyparquet'
import {describe, expect, it} from 'vitest'

import {
  buildManifest,
  buildTables,
  csvField,
  signManifest,
  tableToCsv,
  verifyManifestFiles,
  verifyManifestSignature,
  writeDataset,
  writeManifest,
  type Manifest,
  type RenderedFile,
} from '../../src/lib/export/index.js'
import {loadBuiltinRules} from '../../src/lib/deid/index.js'
import {exportAll, tmp} from '../deid/helpers.js'
import {loadSyntheaPatients} from '../deid/synthea.js'

const patients = loadSyntheaPatients()

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

describe('dataset writers', () => {
  const {result, files} = exportAll(patients)

  it('reads every Parquet table back with hyparquet, equal to the rows', async () => {
    const tables = buildTables(result.patients)
    expect(files.parquet.map((f) => f.path)).toEqual([...tables.map((t) => `${t.name}.parquet`), 'schema.sql'].sort())
    for (const t of tables) {
      const f = files.parquet.find((x) => x.path === `${t.name}.parquet`) as RenderedFile
      const rows = await parquetReadObjects({file: arrayBuffer(f.bytes)})
      const expected = t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c.name, r[i]])))
      expect(rows, t.name).toEqual(expected)
      expect(f.rows).toBe(t.rows.length)
    }
    const counts = Object.fromEntries(files.parquet.map((f) => [f.path, f.rows]))
    expect(counts['patients.parquet']).toBe(6)
    for (const name of ['encounters', 'conditions', 'observations', 'medications', 'procedures', 'immunizations']) {
      expect(counts[`${name}.parquet`], name).toBeGreaterThan(0)
    }
  })

  it('writes NDJSON as one FHIR resource per line, one file per type, sorted by id', () => {
    const obs = files.ndjson.find((f) => f.path === 'Observation.ndjson') as RenderedFile
    const lines = Buffer.from(obs.bytes).toString('utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(obs.rows)
    const ids = lines.map((l) => (JSON.parse(l) as {resourceType: string; id: string}).id)
    expect(ids).toEqual([...ids].sort())
    expect(files.ndjson.map((f) => f.path)).toContain('Patient.ndjson')
  })

  it('quotes CSV fields as RFC 4180 says', () => {
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('two\nlines')).toBe('"two\nlines"')
    expect(csvField(null)).toBe('')
    expect(csvField(false)).toBe('false')
    const csv = tableToCsv({
      name: 'patients',
      columns: [
        {name: 'a', type: 'STRING'},
        {name: 'b', type: 'DOUBLE'},
      ],
      rows: [
        ['x,y', 1.5],
        [null, null],
      ],
    })
    expect(csv).toBe('a,b\r\n"x,y",1.5\r\n,\r\n')
  })

  it('is deterministic: same input, rules and key give byte-identical files; another key does not', () => {
    const again = exportAll(structuredClone(patients)).files
    for (const format of ['ndjson', 'csv', 'parquet', 'manifest'] as const) {
      expect(again[format].map((f) => f.path)).toEqual(files[format].map((f) => f.path))
      again[format].forEach((f, i) =>
        expect(Buffer.compare(Buffer.from(f.bytes), Buffer.from(files[format][i].bytes)), `${format}/${f.path}`).toBe(0),
      )
    }
    const otherKey = exportAll(patients, new Uint8Array(32).fill(9)).files
    const a = Buffer.from(files.ndjson.find((f) => f.path === 'Patient.ndjson')!.bytes).toString()
    const b = Buffer.from(otherKey.ndjson.find((f) => f.path === 'Patient.ndjson')!.bytes).toString()
    expect(a).not.toBe(b)
    const idsA = new Set(
      a
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id),
    )
    for (const l of b.trim().split('\n')) expect(idsA.has(JSON.parse(l).id)).toBe(false)
  })
})

describe('manifest', () => {
  it('records the export and is signed by the custodian key; tampering is detected', async () => {
    const dir = tmp('export')
    const {result} = exportAll(patients, undefined, 1)
    const files = await writeDataset({patients: result.patients, format: 'csv', outDir: dir})
    const wallet = new Wallet('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d')
    const rules = loadBuiltinRules()
    const manifest = buildManifest({
      chainId: 31337n,
      contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      block: 123n,
      format: 'csv',
      cohort: {included: result.patients.length, excluded: {denied: 2, suppressedByK: result.kanon.suppressed}},
      rules,
      kanon: result.kanon,
      files,
      createdAt: '2025-01-01T00:00:00.000Z',
      exporter: wallet.address,
    })
    const signed = await signManifest(manifest, (msg) => wallet.signMessage(msg))
    await writeManifest(dir, signed)
    const read = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest
    expect(read).toMatchObject({
      chainId: '31337',
      block: '123',
      k: 1,
      cohort: {included: 6, excluded: {denied: 2, suppressedByK: 0}},
      rules: {name: 'safe-harbor', sha256: rules.sha256, zipList: '2000 Census'},
      exporter: wallet.address,
    })
    expect(read.rules.restrictedZipPrefixes).toContain('036')
    expect(read.files.map((f) => f.path)).toEqual([
      'conditions.csv',
      'encounters.csv',
      'immunizations.csv',
      'medications.csv',
      'observations.csv',
      'patients.csv',
      'procedures.csv',
      'schema.sql',
    ])
    for (const f of read.files) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/)

    const verify = (msg: Uint8Array, sig: string, signer: string): boolean => verifyMessage(msg, sig) === signer
    expect(await verifyManifestSignature(read, verify)).toBe(true)
    expect(await verifyManifestSignature({...read, block: '124'}, verify)).toBe(false)
    expect(await verifyManifestFiles(dir, read)).toEqual([])

    const csvPath = join(dir, 'patients.csv')
    const {writeFileSync} = await import('node:fs')
    writeFileSync(csvPath, readFileSync(csvPath, 'utf8').replace('female', 'male  '))
    expect(await verifyManifestFiles(dir, read)).toEqual(['patients.csv'])
  })
})
