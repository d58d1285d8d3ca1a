import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {MedctlError, usageError} from '../core/errors.js'
import type {FhirResource} from './types.js'

/** See CSV-MAPPING.md: how the columns of a legacy export become FHIR resources. */
export interface CsvMapping {
  patient: {
    identifierSystem: string
    identifier: string
    family?: string
    given?: string
    birthDate?: string
    gender?: string
    genderMap?: Record<string, string>
    postalCode?: string
  }
  observations?: Array<{
    column: string
    code: {system: string; code: string; display?: string}
    unit?: string
    category?: 'laboratory' | 'vital-signs' | string
    date?: string
  }>
  conditions?: Array<{column: string; system: string; display?: string; date?: string}>
  medicationStatements?: Array<{column: string; system: string; display?: string; date?: string}>
}

export function loadCsvMapping(path: string): CsvMapping {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw usageError('E_CSV_MAPPING', `The mapping file cannot be read as JSON: ${(error as Error).message.split('\n')[0]}`)
  }
  return validateMapping(raw)
}

export function validateMapping(raw: unknown): CsvMapping {
  const m = raw as CsvMapping
  if (
    !m ||
    typeof m !== 'object' ||
    !m.patient ||
    typeof m.patient.identifier !== 'string' ||
    typeof m.patient.identifierSystem !== 'string'
  ) {
    throw usageError('E_CSV_MAPPING', 'The mapping needs patient.identifier (a column) and patient.identifierSystem.')
  }
  for (const [i, o] of (m.observations ?? []).entries()) {
    if (typeof o.column !== 'string' || !o.code?.system || !o.code?.code)
      throw usageError('E_CSV_MAPPING', `observations[${i}] needs column and code.system, code.code.`)
  }
  for (const [name, list] of [
    ['conditions', m.conditions],
    ['medicationStatements', m.medicationStatements],
  ] as const) {
    for (const [i, c] of (list ?? []).entries())
      if (typeof c.column !== 'string' || typeof c.system !== 'string')
        throw usageError('E_CSV_MAPPING', `${name}[${i}] needs column and system.`)
  }
  return m
}

function stableId(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

function dateTime(value: string | undefined): string | undefined {
  if (!value) return undefined
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : value
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/**
 * A cell as a decimal number: the number, undefined for text, or 'not-decimal' for what
 * `Number()` would read as a number but a person would not (0x10, 0o17, 0b1, Infinity, 1e999).
 */
export function decimalOf(value: string): number | undefined | 'not-decimal' {
  if (DECIMAL.test(value)) {
    const n = Number(value)
    return Number.isFinite(n) ? n : 'not-decimal'
  }
  const loose = Number(value)
  return value.trim() !== '' && !Number.isNaN(loose)
    ? 'not-decimal'
    : /^[+-]?(0[xob]|infinity|nan$)/i.test(value.trim())
      ? 'not-decimal'
      : undefined
}

/** One CSV row → a Patient and its clinical resources, with ids derived from the content (idempotent). */
export function rowToResources(row: Record<string, string>, mapping: CsvMapping): FhirResource[] {
  const p = mapping.patient
  const mrn = row[p.identifier]?.trim()
  if (!mrn) throw usageError('E_CSV_ROW', `The row has no value in the identifier column "${p.identifier}".`)
  const patientId = stableId('Patient', p.identifierSystem, mrn)
  const patient: FhirResource = {
    resourceType: 'Patient',
    id: patientId,
    identifier: [
      {type: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR'}]}, system: p.identifierSystem, value: mrn},
    ],
  }
  const family = p.family ? row[p.family]?.trim() : undefined
  const given = p.given ? row[p.given]?.trim() : undefined
  if (family || given) patient.name = [{...(family ? {family} : {}), ...(given ? {given: [given]} : {})}]
  if (p.birthDate && row[p.birthDate]) patient.birthDate = row[p.birthDate]?.trim()
  if (p.gender && row[p.gender]) {
    const value = row[p.gender]?.trim() ?? ''
    patient.gender = p.genderMap?.[value] ?? value
  }
  if (p.postalCode && row[p.postalCode]) patient.address = [{postalCode: row[p.postalCode]?.trim()}]
  const subject = {reference: `Patient/${patientId}`}
  const resources: FhirResource[] = [patient]
  for (const o of mapping.observations ?? []) {
    const value = row[o.column]?.trim()
    if (!value) continue
    const when = dateTime(o.date ? row[o.date]?.trim() : undefined)
    const numeric = decimalOf(value)
    if (numeric === 'not-decimal' || (numeric === undefined && o.unit)) {
      throw new MedctlError(
        'E_CSV_NOT_A_NUMBER',
        `Column "${o.column}" holds a value that is not a decimal number${o.unit ? ` (the mapping gives it the unit ${o.unit})` : ' (hexadecimal, octal, binary, Infinity and the like are refused)'}.`,
      )
    }
    resources.push({
      resourceType: 'Observation',
      id: stableId('Observation', patientId, o.column, value, when ?? ''),
      status: 'final',
      ...(o.category
        ? {category: [{coding: [{system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: o.category}]}]}
        : {}),
      code: {coding: [{system: o.code.system, code: o.code.code, ...(o.code.display ? {display: o.code.display} : {})}]},
      subject,
      ...(when ? {effectiveDateTime: when} : {}),
      ...(typeof numeric === 'number'
        ? {valueQuantity: {value: numeric, ...(o.unit ? {unit: o.unit, system: 'http://unitsofmeasure.org', code: o.unit} : {})}}
        : {valueString: value}),
    })
  }
  for (const c of mapping.conditions ?? []) {
    const code = row[c.column]?.trim()
    if (!code) continue
    const when = dateTime(c.date ? row[c.date]?.trim() : undefined)
    resources.push({
      resourceType: 'Condition',
      id: stableId('Condition', patientId, c.column, code, when ?? ''),
      code: {coding: [{system: c.system, code, ...(c.display && row[c.display] ? {display: row[c.display]?.trim()} : {})}]},
      subject,
      ...(when ? {onsetDateTime: when} : {}),
    })
  }
  for (const m of mapping.medicationStatements ?? []) {
    const code = row[m.column]?.trim()
    if (!code) continue
    const when = dateTime(m.date ? row[m.date]?.trim() : undefined)
    resources.push({
      resourceType: 'MedicationStatement',
      id: stableId('MedicationStatement', patientId, m.column, code, when ?? ''),
      status: 'active',
      medicationCodeableConcept: {
        coding: [{system: m.system, code, ...(m.display && row[m.display] ? {display: row[m.display]?.trim()} : {})}],
      },
      subject,
      ...(when ? {effectiveDateTime: when} : {}),
    })
  }
  return resources
}
