/**
 * Micro-benchmark of FHIR validation per resource over the bundled Synthea samples (one thread):
 * validateFhir (the compiled fast path, Medplum for what it does not vouch for) against Medplum's
 * validator alone (validateFhirWithMedplum, what validateFhir was before issue 16), plus what
 * loading each costs. With `--generated`, the validators `npm run build` wrote
 * (dist/lib/fhir/fhir-validators.cjs) are timed too: loading them is what a validation thread pays.
 *
 *   node --import tsx bench/import/validate.ts [--rounds 5]
 */
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import type {FhirResource} from '../../src/lib/fhir/types.js'
import {fastAccepts} from '../../src/lib/fhir/validate-fast.js'
import {loadDefinitions, validateFhir, validateFhirWithMedplum} from '../../src/lib/fhir/validate.js'
import {SAMPLES_DIR} from './samples.js'

const {values} = parseArgs({options: {rounds: {type: 'string', default: '5'}}})
const rounds = Number(values.rounds)

const resources: FhirResource[] = []
for (const file of readdirSync(SAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const bundle = JSON.parse(readFileSync(join(SAMPLES_DIR, file), 'utf8')) as {entry?: Array<{resource: FhirResource}>}
  for (const entry of bundle.entry ?? []) resources.push(entry.resource)
}

const ms = (t: number): string => (performance.now() - t).toFixed(0)
let t = performance.now()
loadDefinitions()
console.log(`R4 definitions (Medplum): ${ms(t)} ms`)
const generated = join(import.meta.dirname, '..', '..', 'dist', 'lib', 'fhir', 'fhir-validators.cjs')
if (existsSync(generated)) {
  t = performance.now()
  createRequire(import.meta.url)(generated)
  console.log(`generated validators (dist, what a thread loads): ${ms(t)} ms`)
}
t = performance.now()
fastAccepts(resources[0] as FhirResource)
console.log(`schema compiled in process (from the sources) and first validation: ${ms(t)} ms`)

function perResource(validate: (r: FhirResource) => unknown): number {
  for (const r of resources) validate(r) // warm-up: every type compiled, the JIT settled
  const start = performance.now()
  for (let i = 0; i < rounds; i++) for (const r of resources) validate(r)
  return ((performance.now() - start) * 1000) / rounds / resources.length
}

const medplum = perResource(validateFhirWithMedplum)
const now = perResource(validateFhir)
const fast = resources.filter((r) => fastAccepts(r)).length
console.log(`${resources.length} sample resources, ${rounds} rounds; ${fast} accepted by the fast path`)
console.log(`Medplum validateResource alone: ${medplum.toFixed(1)} µs/resource`)
console.log(`validateFhir (compiled fast path): ${now.toFixed(1)} µs/resource (${(medplum / now).toFixed(1)}x)`)
