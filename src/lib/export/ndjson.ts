import type {DeidentifiedPatient} from '../deid/cohort.js'
import type {FhirResource} from '../deid/engine.js'

/**
 * Groups resources by type: one NDJSON file per resource type (FHIR Bulk Data style), types in
 * alphabetical order, resources sorted by id (per-export pseudonyms), one JSON object per line.
 */
export function resourcesByType(patients: readonly DeidentifiedPatient[]): Map<string, FhirResource[]> {
  const byType = new Map<string, FhirResource[]>()
  for (const p of patients) {
    for (const r of p.resources) {
      let list = byType.get(r.resourceType)
      if (!list) byType.set(r.resourceType, (list = []))
      list.push(r)
    }
  }
  const sorted = new Map<string, FhirResource[]>()
  for (const type of [...byType.keys()].sort()) {
    const list = byType.get(type) as FhirResource[]
    sorted.set(
      type,
      [...list].sort((a, b) => ((a.id ?? '') < (b.id ?? '') ? -1 : (a.id ?? '') > (b.id ?? '') ? 1 : 0)),
    )
  }
  return sorted
}

export function toNdjson(resources: readonly FhirResource[]): string {
  let out = ''
  for (const r of resources) out += JSON.stringify(r) + '\n'
  return out
}
