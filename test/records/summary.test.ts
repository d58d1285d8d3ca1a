import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadDefinitions, validateFhir, type FhirResource} from '../../src/lib/fhir/index.js'
import {emergencySummary} from '../../src/lib/vault/summary.js'
import {repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'
import {r4Problems} from '../deid/r4.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

interface Item {
  text: string
  value?: string
  date?: string
  ref: string
}
interface Summary {
  allergies: Item[]
  medications: Item[]
  conditions: Item[]
  bloodGroup: Item | null
  vitals: Item[]
}

describe('records summary: the emergency summary (IPS shape)', () => {
  let t: TestHome
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect((await runJson(['records', 'import', samples, '--no-anchor'])).exitCode).toBe(0)
    loadDefinitions()
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('keeps only what is in force: active conditions and medications, not resolved ones; the latest vital of each kind', () => {
    const resources: FhirResource[] = [
      {resourceType: 'Patient', id: 'p'},
      {resourceType: 'Condition', id: 'c1', clinicalStatus: {coding: [{code: 'active'}]}, code: {text: 'Asthma'}},
      {resourceType: 'Condition', id: 'c2', clinicalStatus: {coding: [{code: 'resolved'}]}, code: {text: 'Sprain'}},
      {resourceType: 'MedicationRequest', id: 'm1', status: 'active', medicationCodeableConcept: {text: 'Salbutamol'}},
      {resourceType: 'MedicationRequest', id: 'm2', status: 'stopped', medicationCodeableConcept: {text: 'Amoxicillin'}},
      {resourceType: 'AllergyIntolerance', id: 'a1', code: {text: 'Penicillin'}},
      {
        resourceType: 'Observation',
        id: 'b',
        status: 'final',
        code: {coding: [{system: 'http://loinc.org', code: '882-1'}]},
        valueCodeableConcept: {text: 'O Rh+'},
      },
      {
        resourceType: 'Observation',
        id: 'hr-old',
        status: 'final',
        code: {coding: [{system: 'http://loinc.org', code: '8867-4', display: 'Heart rate'}]},
        effectiveDateTime: '2020-01-01',
        valueQuantity: {value: 60, unit: '/min'},
      },
      {
        resourceType: 'Observation',
        id: 'hr-new',
        status: 'final',
        code: {coding: [{system: 'http://loinc.org', code: '8867-4', display: 'Heart rate'}]},
        effectiveDateTime: '2024-01-01',
        valueQuantity: {value: 88, unit: '/min'},
      },
    ]
    const s = emergencySummary(resources)
    expect(s.conditions.map((i) => i.text)).toEqual(['Asthma'])
    expect(s.medications.map((i) => i.text)).toEqual(['Salbutamol'])
    expect(s.allergies.map((i) => i.text)).toEqual(['Penicillin'])
    expect(s.bloodGroup?.value).toBe('O Rh+')
    expect(s.vitals).toEqual([expect.objectContaining({text: 'Heart rate', value: '88 /min', ref: 'Observation/hr-new'})])
  })

  it('on a Synthea patient: a table, JSON, and an IPS document Bundle that is valid FHIR R4 (Composition 60591-5 first); audited', async () => {
    const json = await runJson<{summary: Summary}>(['records', 'summary', '--patient', PATIENT, '--format', 'json'])
    expect(json.exitCode).toBe(0)
    const s = json.envelope.result.summary
    expect(s.conditions.length + s.medications.length + s.vitals.length).toBeGreaterThan(0)
    expect(s.vitals.every((v) => v.value && v.ref.startsWith('Observation/'))).toBe(true)

    const table = runBin(['records', 'summary', '--patient', PATIENT], {env: t.env})
    expect(table.status).toBe(0)
    expect(table.stdout).toContain('blood group')

    const out = join(t.home, 'ips.json')
    expect((await runJson(['records', 'summary', '--patient', PATIENT, '--format', 'ips', '--out', out])).exitCode).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as FhirResource & {
      type: string
      entry: Array<{
        fullUrl: string
        resource: FhirResource & {type?: {coding: Array<{code: string}>}; section?: Array<{entry?: Array<{reference: string}>}>}
      }>
    }
    expect(bundle.type).toBe('document')
    const composition = bundle.entry[0]?.resource
    expect(composition?.resourceType).toBe('Composition')
    expect(composition?.type?.coding[0]?.code).toBe('60591-5')
    expect(validateFhir(bundle)).toBeUndefined()
    expect(r4Problems(bundle)).toEqual([])
    // Every reference a section makes resolves inside the document.
    const urls = new Set(bundle.entry.map((e) => e.fullUrl))
    for (const section of composition?.section ?? []) for (const e of section.entry ?? []) expect(urls.has(e.reference)).toBe(true)

    const audit = await runJson<{entries: Array<{detail?: {what?: string}}>}>(['audit', 'show', '--action', 'decrypt'])
    expect(audit.envelope.result.entries.some((e) => e.detail?.what === 'emergency-summary')).toBe(true)
    expect((await runJson(['records', 'summary', '--patient', PATIENT, '--format', 'ips'])).envelope.error.code).toBe('E_OUT_REQUIRED')
  })
})
