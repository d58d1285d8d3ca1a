import type {DeidentifiedPatient} from '../deid/cohort.js'
import type {DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../deid/engine.js'
import {ageGroupOf, AGE_90_PLUS} from '../deid/kanon.js'

/** Column types map onto Parquet types (STRING, INT32, DOUBLE, BOOLEAN); every column is nullable. */
export type ColumnType = 'STRING' | 'INT32' | 'DOUBLE' | 'BOOLEAN'
export type Cell = string | number | boolean | null
export interface Column {
  name: string
  type: ColumnType
}
export interface Table {
  name: TableName
  columns: Column[]
  rows: Cell[][]
}

export const TABLE_NAMES = ['patients', 'encounters', 'conditions', 'observations', 'medications', 'procedures', 'immunizations'] as const
export type TableName = (typeof TABLE_NAMES)[number]

const S = (name: string): Column => ({name, type: 'STRING'})
const I = (name: string): Column => ({name, type: 'INT32'})
const D = (name: string): Column => ({name, type: 'DOUBLE'})
const B = (name: string): Column => ({name, type: 'BOOLEAN'})

/** The columns of each table (documented in COLUMNS.md; keep the two in step). */
export const TABLE_COLUMNS: Record<TableName, Column[]> = {
  patients: [
    S('patient_id'),
    S('gender'),
    I('birth_year'),
    S('age_group'),
    B('deceased'),
    S('deceased_date'),
    S('state'),
    S('zip3'),
    S('country'),
    S('race_code'),
    S('race_display'),
    S('ethnicity_code'),
    S('ethnicity_display'),
    S('birth_sex'),
    S('marital_status_code'),
    S('language_code'),
  ],
  encounters: [
    S('encounter_id'),
    S('patient_id'),
    S('status'),
    S('class_code'),
    S('type_system'),
    S('type_code'),
    S('type_display'),
    S('period_start'),
    S('period_end'),
    S('reason_system'),
    S('reason_code'),
    S('reason_display'),
  ],
  conditions: [
    S('condition_id'),
    S('patient_id'),
    S('encounter_id'),
    S('clinical_status'),
    S('verification_status'),
    S('category'),
    S('code_system'),
    S('code'),
    S('display'),
    S('onset'),
    S('abatement'),
    S('recorded_date'),
  ],
  observations: [
    S('observation_id'),
    S('patient_id'),
    S('encounter_id'),
    S('status'),
    S('category'),
    S('panel_code'),
    S('code_system'),
    S('code'),
    S('display'),
    S('effective'),
    D('value_quantity'),
    S('value_unit'),
    S('value_code_system'),
    S('value_code'),
    S('value_display'),
    B('value_boolean'),
    S('value_string'),
  ],
  medications: [
    S('medication_id'),
    S('patient_id'),
    S('encounter_id'),
    S('resource_type'),
    S('status'),
    S('intent'),
    S('code_system'),
    S('code'),
    S('display'),
    S('authored_on'),
    S('reason_code'),
    S('reason_display'),
  ],
  procedures: [
    S('procedure_id'),
    S('patient_id'),
    S('encounter_id'),
    S('status'),
    S('code_system'),
    S('code'),
    S('display'),
    S('performed_start'),
    S('performed_end'),
    S('reason_code'),
    S('reason_display'),
  ],
  immunizations: [
    S('immunization_id'),
    S('patient_id'),
    S('encounter_id'),
    S('status'),
    S('vaccine_system'),
    S('vaccine_code'),
    S('vaccine_display'),
    S('occurrence'),
    B('primary_source'),
  ],
}

/** The data classes whose records fill each table; `patients` is always written (it joins the others). */
export const TABLE_CLASSES: Record<TableName, readonly DataClass[]> = {
  patients: ['demographics'],
  encounters: ['encounters'],
  conditions: ['conditions'],
  observations: ['labs', 'vitals', 'imaging', 'procedures', 'other'],
  medications: ['medications'],
  procedures: ['procedures'],
  immunizations: ['immunizations'],
}

/** The tables a request for these classes gives (all of them when classes is undefined). */
export function tablesFor(classes?: readonly DataClass[]): TableName[] {
  if (!classes) return [...TABLE_NAMES]
  return TABLE_NAMES.filter((t) => t === 'patients' || TABLE_CLASSES[t].some((c) => classes.includes(c)))
}

/** DuckDB / SQL type of each column type; Parquet carries the same (STRING is UTF-8 text). */
export const SQL_TYPES: Record<ColumnType, string> = {STRING: 'VARCHAR', INT32: 'INTEGER', DOUBLE: 'DOUBLE', BOOLEAN: 'BOOLEAN'}

/** The declared schema of the tables (what the manifest records): column name and SQL type, in file order. */
export function tableSchema(names: readonly TableName[] = TABLE_NAMES): Record<string, Array<{name: string; type: string}>> {
  return Object.fromEntries(names.map((t) => [t, TABLE_COLUMNS[t].map((c) => ({name: c.name, type: SQL_TYPES[c.type]}))]))
}

/**
 * `schema.sql`, written beside the tables: one DuckDB `CREATE TABLE` per table with the declared
 * types, then the statement that loads its file, so `duckdb study.db -c ".read schema.sql"` run in
 * the export directory gives typed tables whatever the data looks like (a ZIP3 column of `980`s
 * stays text, codes stay text, years in date columns stay text).
 */
export function schemaSql(names: readonly TableName[], format: 'csv' | 'parquet'): string {
  const lines = [
    '-- medctl research export: the declared schema of every table (the same in CSV and Parquet).',
    '-- Run in the export directory: duckdb study.db -c ".read schema.sql"',
    '',
  ]
  for (const t of names) {
    const cols = TABLE_COLUMNS[t].map((c) => `  ${c.name} ${SQL_TYPES[c.type]}`).join(',\n')
    lines.push(`CREATE TABLE ${t} (\n${cols}\n);`)
    lines.push(
      format === 'csv'
        ? `COPY ${t} FROM '${t}.csv' (FORMAT csv, HEADER true);`
        : `INSERT INTO ${t} SELECT * FROM read_parquet('${t}.parquet');`,
    )
    lines.push('')
  }
  return lines.join('\n')
}

type Json = Record<string, unknown>
const obj = (v: unknown): Json | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined)
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v])
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null)

function firstCoding(cc: unknown): {system: string | null; code: string | null; display: string | null} {
  const c = obj(arr(obj(cc)?.coding)[0])
  return {system: str(c?.system), code: str(c?.code), display: str(c?.display)}
}

/** The id part of a (pseudonymised) reference: `Patient/abc` -> `abc`. */
function refId(ref: unknown): string | null {
  const r = str(obj(ref)?.reference)
  if (!r) return null
  const m = /\/([^/]+)$/.exec(r)
  return m ? m[1] : r.replace(/^urn:uuid:/, '')
}

function choice(r: Json, base: string, types: string[]): {type: string; value: unknown} | undefined {
  for (const t of types) if (r[base + t] !== undefined) return {type: t, value: r[base + t]}
  return undefined
}

function dateOf(r: Json, base: string): {start: string | null; end: string | null} {
  const c = choice(r, base, ['DateTime', 'Period', 'String', 'Age', 'Range', 'Boolean'])
  if (!c) return {start: null, end: null}
  if (c.type === 'DateTime') return {start: str(c.value), end: null}
  if (c.type === 'Period') return {start: str(obj(c.value)?.start), end: str(obj(c.value)?.end)}
  return {start: null, end: null}
}

function extensionByUrl(r: Json, url: string): Json | undefined {
  return arr(r.extension)
    .map(obj)
    .find((e) => e?.url === url)
}

function patientRow(id: string, p: FhirResource): Cell[] {
  const m = typeof p.birthDate === 'string' ? /^(\d{4})/.exec(p.birthDate) : null
  const address = obj(arr(p.address)[0])
  const zip = str(address?.postalCode)
  const race = extensionByUrl(p, 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race')
  const eth = extensionByUrl(p, 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity')
  const omb = (e: Json | undefined): Json | undefined =>
    obj(
      arr(e?.extension)
        .map(obj)
        .find((x) => x?.url === 'ombCategory')?.valueCoding,
    )
  const sex = extensionByUrl(p, 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex')
  const deceasedDate = str(p.deceasedDateTime)
  return [
    id,
    str(p.gender),
    m ? Number(m[1]) : null,
    ageGroupOf(p) === AGE_90_PLUS ? AGE_90_PLUS : null,
    deceasedDate !== null ? true : (bool(p.deceasedBoolean) ?? false),
    deceasedDate,
    str(address?.state),
    zip && /^\d{3}/.test(zip) ? zip.slice(0, 3) : null,
    str(address?.country),
    str(omb(race)?.code),
    str(omb(race)?.display),
    str(omb(eth)?.code),
    str(omb(eth)?.display),
    str(sex?.valueCode),
    firstCoding(p.maritalStatus).code,
    firstCoding(obj(arr(p.communication)[0])?.language).code,
  ]
}

function rowsFor(patientId: string, r: FhirResource, tables: Record<TableName, Cell[][]>): void {
  const id = r.id ?? null
  const enc = refId(r.encounter) ?? refId(arr(obj(r.context)?.encounter)[0])
  const reason = firstCoding(arr(r.reasonCode)[0])
  switch (r.resourceType) {
    case 'Encounter': {
      const t = firstCoding(arr(r.type)[0])
      const period = obj(r.period)
      tables.encounters.push([
        id,
        patientId,
        str(r.status),
        str(obj(r.class)?.code),
        t.system,
        t.code,
        t.display,
        str(period?.start),
        str(period?.end),
        reason.system,
        reason.code,
        reason.display,
      ])
      break
    }
    case 'Condition': {
      const c = firstCoding(r.code)
      const onset = dateOf(r, 'onset')
      const abatement = dateOf(r, 'abatement')
      tables.conditions.push([
        id,
        patientId,
        enc,
        firstCoding(r.clinicalStatus).code,
        firstCoding(r.verificationStatus).code,
        firstCoding(arr(r.category)[0]).code,
        c.system,
        c.code,
        c.display,
        onset.start,
        abatement.start,
        str(r.recordedDate),
      ])
      break
    }
    case 'Observation': {
      const c = firstCoding(r.code)
      const eff = dateOf(r, 'effective')
      const base = [id, patientId, enc, str(r.status), firstCoding(arr(r.category)[0]).code]
      const value = (x: Json): Cell[] => {
        const q = obj(x.valueQuantity)
        const cc = firstCoding(x.valueCodeableConcept)
        return [num(q?.value), str(q?.unit) ?? str(q?.code), cc.system, cc.code, cc.display, bool(x.valueBoolean), str(x.valueString)]
      }
      tables.observations.push([...base, null, c.system, c.code, c.display, eff.start, ...value(r)])
      for (const comp of arr(r.component).map(obj)) {
        if (!comp) continue
        const cc = firstCoding(comp.code)
        tables.observations.push([...base, c.code, cc.system, cc.code, cc.display, eff.start, ...value(comp)])
      }
      break
    }
    case 'MedicationRequest':
    case 'MedicationStatement':
    case 'MedicationAdministration': {
      const c = firstCoding(r.medicationCodeableConcept)
      const when = str(r.authoredOn) ?? str(r.dateAsserted) ?? dateOf(r, 'effective').start
      tables.medications.push([
        id,
        patientId,
        enc,
        r.resourceType,
        str(r.status),
        str(r.intent),
        c.system,
        c.code,
        c.display,
        when,
        reason.code,
        reason.display,
      ])
      break
    }
    case 'Procedure': {
      const c = firstCoding(r.code)
      const performed = dateOf(r, 'performed')
      tables.procedures.push([
        id,
        patientId,
        enc,
        str(r.status),
        c.system,
        c.code,
        c.display,
        performed.start,
        performed.end,
        reason.code,
        reason.display,
      ])
      break
    }
    case 'Immunization': {
      const c = firstCoding(r.vaccineCode)
      tables.immunizations.push([
        id,
        patientId,
        enc,
        str(r.status),
        c.system,
        c.code,
        c.display,
        str(r.occurrenceDateTime) ?? str(r.occurrenceString),
        bool(r.primarySource),
      ])
      break
    }
    default:
      break
  }
}

function compareRows(a: Cell[], b: Cell[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] === null || a[i] === undefined ? '' : String(a[i])
    const y = b[i] === null || b[i] === undefined ? '' : String(b[i])
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * Flattens de-identified patients into the seven research tables. Rows are sorted by
 * (patient_id, first column, ...) so the same input always gives the same tables.
 */
export function buildTables(patients: readonly DeidentifiedPatient[], names: readonly TableName[] = TABLE_NAMES): Table[] {
  const rows = Object.fromEntries(TABLE_NAMES.map((t) => [t, [] as Cell[][]])) as Record<TableName, Cell[][]>
  for (const p of patients) {
    const patient = p.resources.find((r) => r.resourceType === 'Patient')
    if (patient) rows.patients.push(patientRow(p.patientId, patient))
    for (const r of p.resources) rowsFor(p.patientId, r, rows)
  }
  return TABLE_NAMES.filter((name) => names.includes(name)).map((name) => {
    const sorted = [...rows[name]].sort((a, b) => {
      // patient first (column 0 of patients, column 1 elsewhere), then the whole row
      if (name !== 'patients') {
        const c = compareRows([a[1]], [b[1]])
        if (c !== 0) return c
      }
      return compareRows(a, b)
    })
    return {name, columns: TABLE_COLUMNS[name], rows: sorted}
  })
}
