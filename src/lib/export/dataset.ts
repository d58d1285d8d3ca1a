import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {ExitCode, MedctlError} from '../core/errors.js'
import type {DeidentifiedPatient} from '../deid/cohort.js'
import {manifestToJson, sha256Hex, type Manifest, type ManifestFile} from './manifest.js'
import {resourcesByType, toNdjson} from './ndjson.js'
import {tableToCsv} from './csv.js'
import {tableToParquet} from './parquet.js'
import type {DataClass} from '../fhir/data-classes.js'
import {buildTables, schemaSql, tablesFor} from './tables.js'

export const DATASET_FORMATS = ['ndjson', 'csv', 'parquet'] as const
export type DatasetFormat = (typeof DATASET_FORMATS)[number]

export interface RenderedFile extends ManifestFile {
  bytes: Uint8Array
}

/**
 * Renders a de-identified cohort in one format, in memory (pure): NDJSON gives one FHIR R4 file
 * per resource type; CSV and Parquet give the flattened tables of the requested classes (all
 * seven when `classes` is undefined; `patients` always) plus `schema.sql`, their declared
 * schema. Files are in path order.
 */
export function renderDataset(
  patients: readonly DeidentifiedPatient[],
  format: DatasetFormat,
  options: {classes?: readonly DataClass[]} = {},
): RenderedFile[] {
  const files: RenderedFile[] = []
  const add = (path: string, bytes: Uint8Array, rows: number): void => {
    files.push({path, bytes, rows, sha256: sha256Hex(bytes)})
  }
  switch (format) {
    case 'ndjson':
      for (const [type, list] of resourcesByType(patients)) add(`${type}.ndjson`, Buffer.from(toNdjson(list), 'utf8'), list.length)
      break
    case 'csv':
    case 'parquet': {
      const names = tablesFor(options.classes)
      for (const t of buildTables(patients, names)) {
        if (format === 'csv') add(`${t.name}.csv`, Buffer.from(tableToCsv(t), 'utf8'), t.rows.length)
        else add(`${t.name}.parquet`, tableToParquet(t), t.rows.length)
      }
      add('schema.sql', Buffer.from(schemaSql(names, format), 'utf8'), 0)
      break
    }
    default:
      throw new MedctlError('E_EXPORT_FORMAT', `unknown format ${JSON.stringify(format)} (use ${DATASET_FORMATS.join(', ')})`, {
        exitCode: ExitCode.USAGE,
      })
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
}

export interface WriteDatasetOptions {
  patients: readonly DeidentifiedPatient[]
  format: DatasetFormat
  /** Created when missing. The caller decides what to do with an existing directory. */
  outDir: string
  /** Tables only for these classes (CSV / Parquet); all when undefined. */
  classes?: readonly DataClass[]
}

/** Writes the rendered files to outDir; returns their paths, hashes and row counts for the manifest. */
export async function writeDataset(o: WriteDatasetOptions): Promise<ManifestFile[]> {
  const files = renderDataset(o.patients, o.format, {classes: o.classes})
  await mkdir(o.outDir, {recursive: true})
  for (const f of files) await writeFile(join(o.outDir, f.path), f.bytes, {mode: 0o600})
  return files.map(({path, sha256, rows}) => ({path, sha256, rows}))
}

export async function writeManifest(outDir: string, manifest: Manifest): Promise<string> {
  const path = join(outDir, 'manifest.json')
  await writeFile(path, manifestToJson(manifest), {mode: 0o600})
  return path
}
