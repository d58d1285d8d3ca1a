import {describe, expect, it} from 'vitest'

import type {FhirResource} from '../../src/lib/deid/index.js'
import {exportAll} from './helpers.js'
import {r4Problems} from './r4.js'
import {loadSyntheaPatients, syntheaReferenceTypes} from './synthea.js'

describe('research NDJSON is valid FHIR R4 (issue 14, 1)', () => {
  it("every exported resource of the samples, all classes, passes HL7's R4 JSON schema and @medplum/core", () => {
    const patients = loadSyntheaPatients()
    const {files} = exportAll(patients, undefined, 1, syntheaReferenceTypes())
    const problems = new Map<string, number>()
    const types = new Set<string>()
    let n = 0
    for (const f of files.ndjson) {
      for (const line of Buffer.from(f.bytes).toString('utf8').trim().split('\n')) {
        const r = JSON.parse(line) as FhirResource
        n++
        types.add(r.resourceType)
        for (const p of r4Problems(r)) {
          const key = `${r.resourceType} ${p.replaceAll(/\d+/g, 'n')}`
          problems.set(key, (problems.get(key) ?? 0) + 1)
        }
      }
    }
    expect(n).toBe(patients.reduce((k, p) => k + p.resources.length, 0))
    for (const t of ['Claim', 'ExplanationOfBenefit', 'ImagingStudy', 'DocumentReference', 'CarePlan', 'Goal', 'Provenance'])
      expect(types, t).toContain(t)
    expect(Object.fromEntries(problems)).toEqual({})
  }, 120_000)
})
