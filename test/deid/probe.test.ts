import {readFileSync} from 'node:fs'

import {parquetReadObjects} from 'hyparquet'
import {beforeAll, describe, expect, it} from 'vitest'

import type {CohortPatient, FhirResource} from '../../src/lib/deid/index.js'
import type {RenderedFile} from '../../src/lib/export/index.js'
import {exportAll} from './helpers.js'
import {r4Problems} from './r4.js'

/**
 * A probe patient whose identifiers sit where real data puts them (test/fixtures/deid): the
 * resource's implicitRules, attachment and media URLs and titles, canonical and uri values,
 * a hospital's local code system (codes and displays), a relative's address, device UDI and
 * serial numbers in a contained Device, reference displays, narrative, a Claim's coverage
 * display, DICOM UIDs, questionnaire linkIds and answers.
 */
const fixture = JSON.parse(readFileSync(new URL('../fixtures/deid/probe-patient.json', import.meta.url), 'utf8')) as {
  resources: FhirResource[]
}

export const PROBE_SECRETS = [
  'probe-patient-4471',
  'ZZMRN4471',
  '999-44-7100',
  'Quaxtonbury',
  'Wilhelmina',
  'Ottoline',
  'Ambrose',
  'Pemberton',
  '555-0199',
  '555-0188',
  'mail.example',
  'Zebulon',
  'Frobisher',
  'Kettering',
  'Pelican',
  'Grantsmere',
  '36951',
  'hospital.example',
  'ehr.example',
  'pacs.example',
  'forms.example',
  'social.example',
  'payer.example',
  'ZQ-778899',
  'ZQ-FMT',
  'ZZ4471',
  '1.2.826.0.1.3680043',
  Buffer.from('Wilhelmina Quaxtonbury').toString('base64').slice(0, 24),
]

export function probeCohort(): CohortPatient[] {
  return [{resources: structuredClone(fixture.resources)}]
}

function arrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

describe('probe patient: identifiers in every corner', () => {
  let files: Record<string, RenderedFile[]>
  let texts: Array<{path: string; text: string}>
  beforeAll(async () => {
    files = exportAll(probeCohort()).files
    texts = []
    for (const [format, list] of Object.entries(files)) {
      for (const f of list) {
        texts.push({path: `${format}/${f.path}`, text: Buffer.from(f.bytes).toString('latin1')})
        if (format === 'parquet' && f.path.endsWith('.parquet'))
          texts.push({path: `parquet-decoded/${f.path}`, text: JSON.stringify(await parquetReadObjects({file: arrayBuffer(f.bytes)}))})
      }
    }
  })

  it('the probe itself is valid R4 and carries every secret (so the scan can fail)', () => {
    for (const r of fixture.resources) expect(r4Problems(r), `${r.resourceType}/${r.id}`).toEqual([])
    const source = JSON.stringify(fixture)
    for (const s of PROBE_SECRETS) expect(source, s).toContain(s)
  })

  it('leaves no identifier in any byte of NDJSON, CSV or Parquet', () => {
    const leaks: string[] = []
    for (const {path, text} of texts) for (const s of PROBE_SECRETS) if (text.includes(s)) leaks.push(`${s} in ${path}`)
    expect(leaks).toEqual([])
  })

  it('every exported resource is valid FHIR R4 (HL7 schema and @medplum/core)', () => {
    const problems: string[] = []
    let n = 0
    for (const f of files.ndjson) {
      for (const line of Buffer.from(f.bytes).toString('utf8').trim().split('\n')) {
        const r = JSON.parse(line) as FhirResource
        n++
        for (const p of r4Problems(r)) problems.push(`${r.resourceType}: ${p}`)
      }
    }
    expect(n).toBe(fixture.resources.length)
    expect(problems).toEqual([])
  })

  it('keeps what a researcher needs: standard codes, ZIP3 and state, the year; masks required values it removed', () => {
    const byType = new Map<string, FhirResource[]>()
    for (const f of files.ndjson)
      byType.set(
        f.path.replace('.ndjson', ''),
        Buffer.from(f.bytes)
          .toString('utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as FhirResource),
      )
    const patient = byType.get('Patient')![0]
    expect(patient.address).toEqual([{postalCode: '980', state: 'WA', country: 'US'}])
    expect(patient.birthDate).toBe('1980')
    expect(patient.contact).toBeUndefined()
    expect(patient.implicitRules).toBeUndefined()
    expect(patient.photo).toBeUndefined()
    expect(patient.maritalStatus).toBeUndefined()
    const obs = byType.get('Observation')!.find((o) => JSON.stringify(o).includes('4548-4'))!
    expect((obs.code as {coding: unknown[]}).coding).toEqual([{system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c'}])
    const claim = byType.get('Claim')![0]
    expect((claim.insurance as Array<{coverage: unknown}>)[0].coverage).toEqual({
      extension: [{url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked'}],
    })
    const doc = byType.get('DocumentReference')![0]
    expect((doc.content as Array<{attachment: unknown}>)[0].attachment).toEqual({contentType: 'application/pdf'})
    const qr = byType.get('QuestionnaireResponse')![0]
    expect(qr.questionnaire).toBeUndefined()
    const img = byType.get('ImagingStudy')![0]
    const series = (img.series as Array<{uid: string; instance: Array<{uid: string}>}>)[0]
    expect(series.uid).toMatch(/^[0-9a-f]{64}$/)
    expect(series.instance[0].uid).toMatch(/^[0-9a-f]{64}$/)
    expect(series.instance[0].uid).not.toBe(series.uid)
  })
})
