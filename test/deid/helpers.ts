import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {deidentifyCohort, loadBuiltinRules, type CohortPatient, type DeidentifyCohortResult} from '../../src/lib/deid/index.js'
import {buildManifest, manifestToJson, renderDataset, type DatasetFormat, type RenderedFile} from '../../src/lib/export/index.js'

export const KEY = new Uint8Array(32).map((_, i) => i + 1)
export const REFERENCE_DATE = '2025-01-01'

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `medctl-${prefix}-`))
}

/** De-identifies under safe-harbor and renders every format plus a manifest (pinned createdAt). */
export function exportAll(
  patients: CohortPatient[],
  key: Uint8Array = KEY,
  k = 1,
  knownTypes?: ReadonlyMap<string, string>,
): {result: DeidentifyCohortResult; files: Record<DatasetFormat | 'manifest', RenderedFile[]>} {
  const rules = loadBuiltinRules('safe-harbor')
  const result = deidentifyCohort({patients, rules, key, k, referenceDate: REFERENCE_DATE, knownTypes})
  const files = {} as Record<DatasetFormat | 'manifest', RenderedFile[]>
  for (const format of ['ndjson', 'csv', 'parquet'] as const) files[format] = renderDataset(result.patients, format)
  const manifest = buildManifest({
    chainId: 31337,
    contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    block: 42,
    format: 'ndjson',
    cohort: {included: result.patients.length, excluded: {suppressedByK: result.kanon.suppressed}},
    rules,
    kanon: result.kanon,
    files: files.ndjson,
    createdAt: '2025-01-01T00:00:00.000Z',
    exporter: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  })
  const bytes = Buffer.from(manifestToJson(manifest), 'utf8')
  files.manifest = [{path: 'manifest.json', bytes, rows: 0, sha256: ''}]
  return {result, files}
}
