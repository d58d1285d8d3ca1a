/**
 * Generates Synthea-shaped patients as FHIR Bulk Data NDJSON (one file per resource type), for
 * benchmarks at a scale the six bundled sample patients cannot give. Deterministic for a seed.
 *
 *   node --import tsx bench/import/generate.ts --patients 2000 --out bench/out/ndjson
 */
import {mkdirSync, createWriteStream, type WriteStream} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

const GIVEN = ['Ana', 'Ben', 'Chloe', 'Dev', 'Eli', 'Fatima', 'Gus', 'Hana', 'Ivan', 'Jia', 'Kofi', 'Lena', 'Mateo', 'Nia', 'Omar', 'Priya']
const FAMILY = [
  'Abbott',
  'Bauer',
  'Castillo',
  'Dubois',
  'Eze',
  'Fischer',
  'Garcia',
  'Haddad',
  'Ito',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Moreau',
  'Nakamura',
]
const CITIES = [
  ['Boston', '021'],
  ['Worcester', '016'],
  ['Springfield', '011'],
  ['Lowell', '018'],
  ['Cambridge', '021'],
] as const
const VITALS = [
  ['8302-2', 'Body Height', 'cm', 150, 200],
  ['29463-7', 'Body Weight', 'kg', 45, 120],
  ['8867-4', 'Heart rate', '/min', 50, 110],
  ['8310-5', 'Body temperature', 'Cel', 36, 39],
] as const
const LABS = [
  ['2339-0', 'Glucose', 'mg/dL', 70, 180],
  ['2093-3', 'Cholesterol', 'mg/dL', 120, 280],
  ['718-7', 'Hemoglobin', 'g/dL', 11, 18],
] as const
const CONDITIONS = [
  ['44054006', 'Diabetes'],
  ['38341003', 'Hypertension'],
  ['195662009', 'Acute viral pharyngitis'],
  ['10509002', 'Acute bronchitis'],
] as const
const MEDS = [
  ['860975', 'Metformin 500 MG'],
  ['314076', 'Lisinopril 10 MG'],
  ['198405', 'Ibuprofen 200 MG'],
] as const
const VACCINES = [
  ['140', 'Influenza, seasonal'],
  ['08', 'Hep B, adolescent or pediatric'],
] as const

/** A small deterministic PRNG (mulberry32), so the same seed gives the same files. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function uuid(next: () => number): string {
  const hex = Array.from({length: 32}, () => Math.floor(next() * 16).toString(16)).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)] as T
}

function isoDate(next: () => number, fromYear: number, toYear: number): string {
  const year = fromYear + Math.floor(next() * (toYear - fromYear + 1))
  const month = 1 + Math.floor(next() * 12)
  const day = 1 + Math.floor(next() * 28)
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`
}

export interface GenerateOptions {
  patients: number
  /** Clinical resources per patient (about). */
  perPatient: number
  out: string
  seed: number
}

export interface GenerateResult {
  files: string[]
  resources: number
  bytes: number
}

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  mkdirSync(options.out, {recursive: true})
  const next = rng(options.seed)
  const streams = new Map<string, WriteStream>()
  let resources = 0
  let bytes = 0
  const write = (resource: {resourceType: string; [element: string]: unknown}): void => {
    let stream = streams.get(resource.resourceType)
    if (!stream) {
      stream = createWriteStream(join(options.out, `${resource.resourceType}.ndjson`))
      streams.set(resource.resourceType, stream)
    }
    const line = `${JSON.stringify(resource)}\n`
    bytes += Buffer.byteLength(line)
    resources++
    stream.write(line)
  }
  for (let p = 0; p < options.patients; p++) {
    const id = uuid(next)
    const [city, zip3] = pick(next, CITIES)
    const birthDate = isoDate(next, 1930, 2015)
    write({
      resourceType: 'Patient',
      id,
      identifier: [
        {system: 'https://github.com/synthetichealth/synthea', value: id},
        {
          type: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR'}]},
          system: 'http://hospital.smarthealthit.org',
          value: `MRN-${100000 + p}`,
        },
        {
          type: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS'}]},
          system: 'http://hl7.org/fhir/sid/us-ssn',
          value: `999-${String(10 + (p % 89)).padStart(2, '0')}-${String(1000 + (p % 9000))}`,
        },
      ],
      name: [{use: 'official', family: pick(next, FAMILY), given: [pick(next, GIVEN)]}],
      telecom: [{system: 'phone', value: `555-${String(100 + (p % 900))}-${String(1000 + (p % 9000))}`, use: 'home'}],
      gender: next() < 0.5 ? 'female' : 'male',
      birthDate,
      address: [
        {
          line: [`${1 + Math.floor(next() * 999)} Main St`],
          city,
          state: 'MA',
          postalCode: `${zip3}${String(Math.floor(next() * 100)).padStart(2, '0')}`,
          country: 'US',
        },
      ],
    })
    const subject = {reference: `Patient/${id}`}
    const encounters: string[] = []
    for (let i = 0; i < options.perPatient; i++) {
      const kind = i % 10
      const date = isoDate(next, 2010, 2024)
      if (kind === 0 || encounters.length === 0) {
        const encounterId = uuid(next)
        encounters.push(encounterId)
        write({
          resourceType: 'Encounter',
          id: encounterId,
          status: 'finished',
          class: {system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB'},
          type: [{coding: [{system: 'http://snomed.info/sct', code: '185349003', display: 'Encounter for check up'}]}],
          subject,
          period: {start: `${date}T09:00:00Z`, end: `${date}T09:30:00Z`},
        })
        continue
      }
      const encounter = {reference: `Encounter/${encounters.at(-1)}`}
      if (kind <= 5) {
        const vital = kind <= 3
        const [code, display, unit, lo, hi] = vital ? pick(next, VITALS) : pick(next, LABS)
        write({
          resourceType: 'Observation',
          id: uuid(next),
          status: 'final',
          category: [
            {coding: [{system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: vital ? 'vital-signs' : 'laboratory'}]},
          ],
          code: {coding: [{system: 'http://loinc.org', code, display}], text: display},
          subject,
          encounter,
          effectiveDateTime: `${date}T09:10:00Z`,
          valueQuantity: {value: Math.round((lo + next() * (hi - lo)) * 10) / 10, unit, system: 'http://unitsofmeasure.org', code: unit},
        })
      } else if (kind === 6) {
        const [code, display] = pick(next, CONDITIONS)
        write({
          resourceType: 'Condition',
          id: uuid(next),
          clinicalStatus: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active'}]},
          code: {coding: [{system: 'http://snomed.info/sct', code, display}], text: display},
          subject,
          encounter,
          onsetDateTime: `${date}T09:15:00Z`,
        })
      } else if (kind === 7) {
        const [code, display] = pick(next, MEDS)
        write({
          resourceType: 'MedicationRequest',
          id: uuid(next),
          status: 'active',
          intent: 'order',
          medicationCodeableConcept: {coding: [{system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code, display}], text: display},
          subject,
          encounter,
          authoredOn: `${date}T09:20:00Z`,
        })
      } else if (kind === 8) {
        const [code, display] = pick(next, VACCINES)
        write({
          resourceType: 'Immunization',
          id: uuid(next),
          status: 'completed',
          vaccineCode: {coding: [{system: 'http://hl7.org/fhir/sid/cvx', code, display}], text: display},
          patient: subject,
          encounter,
          occurrenceDateTime: `${date}T09:25:00Z`,
          primarySource: true,
        })
      } else {
        write({
          resourceType: 'Procedure',
          id: uuid(next),
          status: 'completed',
          code: {
            coding: [{system: 'http://snomed.info/sct', code: '430193006', display: 'Medication Reconciliation'}],
            text: 'Medication Reconciliation',
          },
          subject,
          encounter,
          performedPeriod: {start: `${date}T09:05:00Z`, end: `${date}T09:20:00Z`},
        })
      }
    }
  }
  await Promise.all(
    [...streams.values()].map(
      (s) => new Promise<void>((resolve, reject) => s.end((error?: Error | null) => (error ? reject(error) : resolve()))),
    ),
  )
  return {files: [...streams.keys()].sort().map((type) => join(options.out, `${type}.ndjson`)), resources, bytes}
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const {values} = parseArgs({
    options: {
      patients: {type: 'string', default: '1000'},
      'per-patient': {type: 'string', default: '60'},
      out: {type: 'string', default: 'bench/out/ndjson'},
      seed: {type: 'string', default: '42'},
    },
  })
  const result = await generate({
    patients: Number(values.patients),
    perPatient: Number(values['per-patient']),
    out: values.out as string,
    seed: Number(values.seed),
  })
  console.log(
    `generated ${result.resources} resources, ${(result.bytes / 1e6).toFixed(1)} MB in ${result.files.length} files under ${values.out}`,
  )
}
