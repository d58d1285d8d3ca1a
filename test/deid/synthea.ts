import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {CohortPatient, FhirResource} from '../../src/lib/deid/index.js'
import {ReferenceResolver, rewriteReferences} from '../../src/lib/fhir/references.js'

export const SYNTHEA_DIR = fileURLToPath(new URL('../../data/samples/synthea-r4/', import.meta.url))

/** Reference data (shared organisations, practitioners, places) is left out of research exports. */
const REFERENCE_TYPES = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location'])

type Bundle = {entry: Array<{fullUrl?: string; resource: FhirResource}>}

function bundles(dir: string): Array<{file: string; bundle: Bundle}> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({file, bundle: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Bundle}))
}

/**
 * Patient bundles -> one group per patient (reference data left out), with their references
 * resolved as `records import` stores them (`urn:uuid:` fullUrls and conditional references
 * become `Type/id`; contained resources keep theirs).
 */
export function loadSyntheaPatients(dir = SYNTHEA_DIR): CohortPatient[] {
  const all = bundles(dir)
  const resolver = new ReferenceResolver()
  for (const {bundle} of all) for (const e of bundle.entry) resolver.register(e.resource, e.fullUrl)
  return all
    .filter(({file}) => !/^(hospital|practitioner)Information/.test(file))
    .map(({bundle}) => ({
      resources: bundle.entry
        .map((e) => e.resource)
        .filter((r) => !REFERENCE_TYPES.has(r.resourceType))
        .map((r) => {
          const copy = structuredClone(r)
          rewriteReferences(copy, resolver)
          return copy
        }),
    }))
}

/** Source id -> type of the reference data the patient bundles point at (left out of exports). */
export function syntheaReferenceTypes(dir = SYNTHEA_DIR): Map<string, string> {
  const out = new Map<string, string>()
  for (const {bundle} of bundles(dir))
    for (const e of bundle.entry)
      if (REFERENCE_TYPES.has(e.resource.resourceType) && e.resource.id) out.set(e.resource.id, e.resource.resourceType)
  return out
}

type J = Record<string, unknown>
const arr = (v: unknown): J[] => (Array.isArray(v) ? (v as J[]) : [])

/** Every direct identifier the source Patients carry, by kind. */
export function collectPhi(patients: CohortPatient[]): Map<string, string> {
  const phi = new Map<string, string>()
  const add = (kind: string, v: unknown): void => {
    if (typeof v === 'string' && v.length >= 4) phi.set(v, kind)
  }
  for (const g of patients) {
    const p = g.resources.find((r) => r.resourceType === 'Patient') as FhirResource
    add('patient id', p.id)
    for (const n of arr(p.name)) {
      add('family name', n.family)
      for (const given of (n.given as string[] | undefined) ?? []) add('given name', given)
    }
    for (const a of arr(p.address)) {
      for (const line of (a.line as string[] | undefined) ?? []) add('street line', line)
      add('city', a.city)
      add('postal code', a.postalCode)
    }
    for (const t of arr(p.telecom)) add(`telecom ${String(t.system)}`, t.value)
    for (const id of arr(p.identifier)) {
      const code = String((arr((id.type as J | undefined)?.coding)[0] ?? {}).code ?? 'identifier')
      add(`identifier ${code}`, id.value)
    }
    for (const e of arr(p.extension)) {
      if (typeof e.valueString === 'string' && /maiden/i.test(String(e.url))) add("mother's maiden name", e.valueString)
      const birthPlace = e.valueAddress as J | undefined
      if (birthPlace) add('birth place city', birthPlace.city)
    }
  }
  return phi
}
