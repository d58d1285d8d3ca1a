/**
 * Export benchmark: resources per second of de-identification (safe-harbor rules) + writing each
 * format, against a bare JSON.parse + JSON.stringify of the same records.
 *
 *   node --import tsx bench/export/run.ts [copies]     (default 20 copies of the six Synthea patients)
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {deidentifyCohort, loadBuiltinRules, type CohortPatient, type FhirResource} from '../../src/lib/deid/index.js'
import {renderDataset} from '../../src/lib/export/index.js'

const DATA = fileURLToPath(new URL('../../data/samples/synthea-r4/', import.meta.url))
const REFERENCE = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location'])
const copies = Number(process.argv[2] ?? 20)

function load(): CohortPatient[] {
  return readdirSync(DATA)
    .filter((f) => f.endsWith('.json') && !/^(hospital|practitioner)Information/.test(f))
    .sort()
    .map((f) => {
      const b = JSON.parse(readFileSync(join(DATA, f), 'utf8')) as {entry: Array<{resource: FhirResource}>}
      return {resources: b.entry.map((e) => e.resource).filter((r) => !REFERENCE.has(r.resourceType))}
    })
}

/** Replicates the patients with fresh ids (every id and reference rewritten consistently). */
function replicate(base: CohortPatient[], n: number): CohortPatient[] {
  const out: CohortPatient[] = []
  for (let c = 0; c < n; c++) {
    for (const p of base) {
      const text = JSON.stringify(p.resources).replace(
        /([0-9a-f]{8})-([0-9a-f]{4})-/g,
        (_m, a: string, b: string) => `${a}-${(parseInt(b, 16) ^ c).toString(16).padStart(4, '0')}-`,
      )
      out.push({resources: JSON.parse(text) as FhirResource[]})
    }
  }
  return out
}

const patients = replicate(load(), copies)
const resources = patients.reduce((n, p) => n + p.resources.length, 0)
const lines = patients.flatMap((p) => p.resources.map((r) => JSON.stringify(r)))
const rules = loadBuiltinRules('safe-harbor')
const key = new Uint8Array(32).fill(1)

function time<T>(f: () => T): {ms: number; value: T} {
  const t = performance.now()
  const value = f()
  return {ms: performance.now() - t, value}
}

// warm-up
deidentifyCohort({patients: patients.slice(0, 6), rules, key, k: 1, referenceDate: '2025-01-01'})

const bare = time(() => {
  let bytes = 0
  for (const l of lines) bytes += JSON.stringify(JSON.parse(l)).length
  return bytes
})
const deid = time(() => deidentifyCohort({patients, rules, key, k: 5, referenceDate: '2025-01-01'}))
const rate = (ms: number): number => Math.round(resources / (ms / 1000))

console.log(`patients ${patients.length}, resources ${resources}, JSON ${(bare.value / 1e6).toFixed(1)} MB`)
console.log(
  `bare JSON.parse+stringify     ${bare.ms.toFixed(0).padStart(7)} ms  ${rate(bare.ms).toLocaleString('en-US').padStart(10)} resources/s`,
)
console.log(
  `deidentify (safe-harbor, k=5) ${deid.ms.toFixed(0).padStart(7)} ms  ${rate(deid.ms).toLocaleString('en-US').padStart(10)} resources/s  ${(deid.ms / bare.ms).toFixed(1)}x bare`,
)
for (const format of ['ndjson', 'csv', 'parquet'] as const) {
  const w = time(() => renderDataset(deid.value.patients, format))
  const total = deid.ms + w.ms
  const bytes = w.value.reduce((n, f) => n + f.bytes.length, 0)
  console.log(
    `deidentify + ${format.padEnd(8)}        ${total.toFixed(0).padStart(7)} ms  ${rate(total).toLocaleString('en-US').padStart(10)} resources/s  ${(total / bare.ms).toFixed(1)}x bare  (write ${w.ms.toFixed(0)} ms, ${(bytes / 1e6).toFixed(1)} MB)`,
  )
}
