import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {CohortPatient, FhirResource} from '../../src/lib/deid/index.js'

export const SYNTHEA_DIR = fileURLToPath(new URL('../../data/samples/synthea-r4/', import.meta.url))

/** Reference data (shared organisations, practitioners, places) is left out of research exports. */
const REFERENCE_TYPES = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location'])

/** Patient bundles -> one group per patient (reference data left out). */
export function loadSyntheaPatients(dir = SYNTHEA_DIR): CohortPatient[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !/^(hospital|practitioner)Information/.test(f))
    .sort()
  return files.map((f) => {
    const bundle = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {entry: Array<{resource: FhirResource}>}
    return {resources: bundle.entry.map((e) => e.resource).filter((r) => !REFERENCE_TYPES.has(r.resourceType))}
  })
}
