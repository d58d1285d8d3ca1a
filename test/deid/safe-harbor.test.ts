import {parquetReadObjects} from 'hyparquet'
import {beforeAll, describe, expect, it} from 'vitest'

import type {CohortPatient, FhirResource} from '../../src/lib/deid/index.js'
import type {RenderedFile} from '../../src/lib/export/index.js'
import {exportAll} from './helpers.js'
import {collectPhi, loadSyntheaPatients} from './synthea.js'

type J = Record<string, unknown>
const arr = (v: unknown): J[] => (Array.isArray(v) ? (v as J[]) : [])

function notes(patients: CohortPatient[]): string[] {
  const out: string[] = []
  for (const g of patients) {
    for (const r of g.resources) {
      for (const c of arr(r.content)) {
        const data = (c.attachment as J | undefined)?.data
        if (typeof data === 'string') out.push(data)
      }
      for (const f of arr(r.presentedForm)) if (typeof f.data === 'string') out.push(f.data)
    }
  }
  return out
}

describe('safe-harbor export of the Synthea patients', () => {
  const patients = loadSyntheaPatients()
  let files: Record<string, RenderedFile[]>
  let allText: Array<{path: string; text: string}>

  beforeAll(async () => {
    files = exportAll(patients).files
    allText = []
    for (const [format, list] of Object.entries(files)) {
      for (const f of list) {
        allText.push({path: `${format}/${f.path}`, text: Buffer.from(f.bytes).toString('latin1')})
        if (format === 'parquet' && f.path.endsWith('.parquet')) {
          // Parquet pages are compressed: scan the decoded values too.
          const rows = await parquetReadObjects({
            file: f.bytes.buffer.slice(f.bytes.byteOffset, f.bytes.byteOffset + f.bytes.byteLength) as ArrayBuffer,
          })
          allText.push({path: `parquet-decoded/${f.path}`, text: JSON.stringify(rows)})
        }
      }
    }
  })

  it('has the identifiers the scan looks for (the scan itself can fail)', () => {
    const kinds = new Set(collectPhi(patients).values())
    for (const kind of [
      'given name',
      'family name',
      'street line',
      'city',
      'postal code',
      'telecom phone',
      'identifier SS',
      'identifier MR',
      'identifier DL',
      'identifier PPN',
    ]) {
      expect(kinds, kind).toContain(kind)
    }
    expect(notes(patients).length).toBeGreaterThan(50)
  })

  it('writes no name, street line, city, full ZIP, phone, email, SSN, MRN, licence or passport number anywhere', () => {
    const phi = collectPhi(patients)
    const leaks: string[] = []
    for (const {path, text} of allText) {
      for (const [value, kind] of phi) if (text.includes(value)) leaks.push(`${kind} ${JSON.stringify(value)} in ${path}`)
    }
    expect(leaks).toEqual([])
  })

  it('keeps no clinical note, neither base64 nor decoded', () => {
    const leaks: string[] = []
    for (const data of notes(patients)) {
      const decoded = Buffer.from(data, 'base64').toString('utf8')
      const probes = [
        data.slice(0, 48),
        decoded
          .split('\n')
          .find((l) => l.trim().length > 30)
          ?.trim(),
      ].filter((x): x is string => !!x)
      for (const {path, text} of allText)
        for (const probe of probes) if (text.includes(probe)) leaks.push(`${probe.slice(0, 20)}… in ${path}`)
    }
    expect(leaks).toEqual([])
  })

  it('leaves no full date (YYYY-MM-DD or longer) in any data file', () => {
    const withDates = allText.filter(({path, text}) => !path.startsWith('manifest') && /\d{4}-\d{2}-\d{2}/.test(text)).map((f) => f.path)
    expect(withDates).toEqual([])
  })

  it('truncates ZIP codes to three digits and keeps years', () => {
    const patientsCsv = files.csv.find((f) => f.path === 'patients.csv') as RenderedFile
    const lines = Buffer.from(patientsCsv.bytes).toString('utf8').trim().split('\r\n')
    const header = lines[0].split(',')
    const zip3 = header.indexOf('zip3')
    const birthYear = header.indexOf('birth_year')
    expect(lines).toHaveLength(patients.length + 1)
    for (const line of lines.slice(1)) {
      const cells = line.split(',')
      expect(cells[zip3]).toMatch(/^\d{3}$/)
      expect(cells[birthYear]).toMatch(/^(19|20)\d{2}$/)
    }
  })

  it('replaces ids and references with pseudonyms that still resolve inside the export', () => {
    const ndjson = files.ndjson
    const ids = new Set<string>()
    const refs: string[] = []
    for (const f of ndjson) {
      for (const line of Buffer.from(f.bytes).toString('utf8').trim().split('\n')) {
        const r = JSON.parse(line) as FhirResource
        expect(r.id).toMatch(/^[0-9a-f]{32}$/)
        ids.add(`${r.resourceType}/${r.id}`)
        JSON.stringify(r, (k, v) => {
          if (k === 'reference' && typeof v === 'string' && !v.startsWith('#') && !v.startsWith('urn:uuid:')) refs.push(v)
          return v
        })
      }
    }
    expect(refs.length).toBeGreaterThan(1000)
    // Reference data (organisations, practitioners, locations) is left out of exports: pointed at by pseudonym only.
    expect(refs.filter((r) => !ids.has(r) && !/^(Organization|Practitioner|PractitionerRole|Location)\/[0-9a-f]{32}$/.test(r))).toEqual([])
  })
})
