import {describe, expect, it} from 'vitest'

import {
  AGE_GROUP_EXTENSION_URL,
  DEFAULT_QUASI_IDENTIFIERS,
  deidentifyCohort,
  kAnonymize,
  loadBuiltinRules,
  type CohortPatient,
  type FhirResource,
} from '../../src/lib/deid/index.js'
import {renderDataset} from '../../src/lib/export/index.js'
import {KEY, REFERENCE_DATE} from './helpers.js'
import {loadSyntheaPatients} from './synthea.js'

const rules = loadBuiltinRules('safe-harbor')

function patient(id: string, birthDate: string, gender: string, zip: string): CohortPatient {
  return {
    resources: [
      {resourceType: 'Patient', id, gender, birthDate, address: [{city: 'Somewhere', postalCode: zip, state: 'WA'}]},
      {
        resourceType: 'Observation',
        id: `obs-${id}`,
        status: 'final',
        code: {coding: [{system: 'http://loinc.org', code: '8302-2', display: 'Body Height'}]},
        subject: {reference: `urn:uuid:${id}`},
        effectiveDateTime: '2020-03-04T10:00:00Z',
        valueQuantity: {value: 170, unit: 'cm'},
      },
    ],
  }
}

describe('ages over 89', () => {
  it('removes the birth year of a patient over 89 and files them as 90+', () => {
    const source = loadSyntheaPatients()[0]
    const old = structuredClone(source)
    const p = old.resources.find((r) => r.resourceType === 'Patient') as FhirResource
    p.birthDate = '1921-05-17'
    const {patients, stats} = deidentifyCohort({patients: [old], rules, key: KEY, k: 1, referenceDate: REFERENCE_DATE})
    expect(stats.agesOver89).toBe(1)
    const out = patients[0]
    expect(out.ageOver89).toBe(true)
    const dp = out.resources.find((r) => r.resourceType === 'Patient') as FhirResource
    expect(dp.birthDate).toBeUndefined()
    expect(dp.extension).toContainEqual({url: AGE_GROUP_EXTENSION_URL, valueString: '90+'})
    expect(out.quasiIdentifiers.birthYearBand10).toBe('90+')
    for (const format of ['ndjson', 'csv', 'parquet'] as const) {
      for (const f of renderDataset(patients, format)) expect(Buffer.from(f.bytes).toString('latin1'), f.path).not.toContain('1921')
    }
    const csv = renderDataset(patients, 'csv').find((f) => f.path === 'patients.csv')
    const [header, row] = Buffer.from(csv!.bytes)
      .toString('utf8')
      .trim()
      .split('\r\n')
      .map((l) => l.split(','))
    expect(row[header.indexOf('birth_year')]).toBe('')
    expect(row[header.indexOf('age_group')]).toBe('90+')
  })

  it('keeps the birth year of an 80-year-old', () => {
    const {patients} = deidentifyCohort({
      patients: [patient('a', '1944-02-02', 'female', '98052')],
      rules,
      key: KEY,
      k: 1,
      referenceDate: REFERENCE_DATE,
    })
    const dp = patients[0].resources.find((r) => r.resourceType === 'Patient') as FhirResource
    expect(dp.birthDate).toBe('1944')
    expect(patients[0].ageOver89).toBe(false)
  })

  it('removes any date whose year alone reveals an age over 89', () => {
    const g = patient('b', '1950-01-01', 'male', '98052')
    ;(g.resources[1] as FhirResource).effectiveDateTime = '1930-06-01'
    const {patients} = deidentifyCohort({patients: [g], rules, key: KEY, k: 1, referenceDate: REFERENCE_DATE})
    const obs = patients[0].resources.find((r) => r.resourceType === 'Observation') as FhirResource
    expect(obs.effectiveDateTime).toBeUndefined()
  })
})

describe('k-anonymity', () => {
  const crafted = [
    patient('p1', '1981-01-01', 'female', '98052'),
    patient('p2', '1985-07-01', 'female', '98053'),
    patient('p3', '1989-12-31', 'female', '98007'),
    patient('p4', '1983-03-03', 'male', '98052'),
    patient('p5', '1975-03-03', 'female', '98052'),
    patient('p6', '1976-03-03', 'female', '03601'), // restricted prefix 036 -> 000
  ]

  it('suppresses patients in classes smaller than k, with all their resources', () => {
    const {patients, kanon, stats} = deidentifyCohort({patients: crafted, rules, key: KEY, k: 2, referenceDate: REFERENCE_DATE})
    // classes: (1980-1989,female,980)x3, (1980-1989,male,980)x1, (1970-1979,female,980)x1, (1970-1979,female,000)x1
    expect(kanon).toMatchObject({k: 2, patients: 6, retained: 3, suppressed: 3, classes: 1, suppressedClasses: 3, smallestClass: 3})
    expect(kanon.maxRisk).toBeCloseTo(1 / 3)
    expect(patients).toHaveLength(3)
    expect(stats.resourcesOut).toBe(6)
    expect(new Set(patients.map((p) => p.quasiIdentifiers.gender))).toEqual(new Set(['female']))
    const text = JSON.stringify(patients)
    expect(text).not.toContain('"male"')
  })

  it('keeps everyone when k = 1 and reports the highest risk left', () => {
    const {kanon} = deidentifyCohort({patients: crafted, rules, key: KEY, k: 1, referenceDate: REFERENCE_DATE})
    expect(kanon).toMatchObject({suppressed: 0, classes: 4, smallestClass: 1, maxRisk: 1})
  })

  it('writes restricted three-digit ZIP areas as 000', () => {
    const {patients} = deidentifyCohort({patients: [crafted[5]], rules, key: KEY, k: 1, referenceDate: REFERENCE_DATE})
    expect(patients[0].quasiIdentifiers.zip3).toBe('000')
  })

  it('suppresses everything when no class reaches k', () => {
    const patients = [
      {birthDate: '1990', gender: 'male'},
      {birthDate: '1991', gender: 'female'},
    ].map((p) => ({resourceType: 'Patient', ...p}))
    const r = kAnonymize(patients, 2, DEFAULT_QUASI_IDENTIFIERS, (p) => p)
    expect(r.report).toMatchObject({retained: 0, suppressed: 2, classes: 0, smallestClass: 0, maxRisk: 0})
  })
})
