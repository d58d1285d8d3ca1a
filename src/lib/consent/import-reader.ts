import {createReadStream, existsSync, readFileSync, statSync} from 'node:fs'
import {createGunzip} from 'node:zlib'
import {parse as parseCsv} from 'csv-parse'
import {MedctlError, usageError} from '../cli/errors.js'
import {DATA_CLASSES, classOf, isDataClass, type DataClass} from '../fhir/data-classes.js'
import {readLines} from '../fhir/readers.js'
import type {FhirResource, Location} from '../fhir/types.js'
import {validateFhir} from '../fhir/validate.js'
import {PURPOSES, isPurpose, type Purpose} from './model.js'
import {DATA_CLASS_SYSTEM, consentResource} from './terms.js'

/** One consent to grant, as read from a line, a bundle entry or a CSV row. */
export interface ConsentLine {
  kind: 'consent'
  location: Location
  id?: string
  /** system|value, or a `Patient/id` reference to a patient imported earlier. */
  patient: {identifier: string} | {reference: string}
  grantee: string
  purposes: Purpose[]
  classes: DataClass[]
  notBefore: number
  notAfter: number
  /** The full FHIR Consent: its salted hash goes on chain, the resource itself stays off chain. */
  consent: FhirResource
}

export interface ConsentReject {
  kind: 'reject'
  location: Location
  resourceType?: string
  id?: string
  code: string
  message: string
}

export type ConsentItem = ConsentLine | ConsentReject

export interface ConsentReadOptions {
  /** An address, or a local profile's name (CSV), to an address; throws a MedctlError when unknown. */
  resolveGrantee: (nameOrAddress: string) => string
  stdin?: NodeJS.ReadableStream
}

type Format = 'ndjson' | 'ndjson.gz' | 'json' | 'csv'

export function consentFormatOf(file: string): Format {
  const lower = file.toLowerCase()
  if (file === '-' || lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson'
  if (lower.endsWith('.ndjson.gz') || lower.endsWith('.jsonl.gz')) return 'ndjson.gz'
  if (lower.endsWith('.json')) return 'json'
  if (lower.endsWith('.csv')) return 'csv'
  throw usageError('E_UNKNOWN_FORMAT', 'Consents come as FHIR R4 Consent NDJSON (.ndjson, .ndjson.gz), JSON (a Consent or a Bundle of them, .json) or CSV (.csv).')
}

const RESOURCE_TYPES_SYSTEM = 'http://hl7.org/fhir/resource-types'
const ETHEREUM_ACTOR = /^(?:urn:ethereum:)?(0x[0-9a-fA-F]{40})$/
const PATIENT_REFERENCE = /^Patient\/[A-Za-z0-9\-.]{1,64}$/

/** Data classes a `provision.class` coding names: a medctl class, or a FHIR resource type. */
function classesOfCoding(coding: {system?: string; code?: string}): DataClass[] | undefined {
  const code = coding.code ?? ''
  if ((coding.system === DATA_CLASS_SYSTEM || coding.system === undefined) && isDataClass(code)) return [code]
  if (coding.system === RESOURCE_TYPES_SYSTEM) {
    if (code === 'Observation') return ['labs', 'vitals', 'other']
    if (code === 'DiagnosticReport') return ['labs', 'imaging', 'notes']
    return [classOf({resourceType: code} as FhirResource)]
  }
  return undefined
}

function seconds(value: string, what: string): number {
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new MedctlError('E_BAD_DATE', `${what} "${value.slice(0, 40)}" is not a date.`)
  return Math.floor(ms / 1000)
}

interface ConsentShape {
  id?: string
  status?: string
  dateTime?: string
  patient?: {reference?: string; identifier?: {system?: string; value?: string}}
  provision?: {
    type?: string
    period?: {start?: string; end?: string}
    actor?: Array<{reference?: {reference?: string; identifier?: {value?: string}}}>
    purpose?: Array<{code?: string}>
    class?: Array<{system?: string; code?: string}>
  }
}

/** A FHIR R4 Consent to the grant it asks for, or the reason it cannot be granted. */
export function parseConsentResource(value: unknown, location: Location): ConsentItem {
  const resource = value as FhirResource
  const resourceType = typeof resource?.resourceType === 'string' ? resource.resourceType : undefined
  const id = typeof resource?.id === 'string' ? resource.id : undefined
  const reject = (code: string, message: string): ConsentReject => ({kind: 'reject', location, ...(resourceType ? {resourceType} : {}), ...(id ? {id} : {}), code, message})
  if (resourceType !== 'Consent') return reject('E_NOT_A_CONSENT', `Expected a Consent resource, found ${resourceType ?? 'no resourceType'}.`)
  const problem = validateFhir(resource)
  if (problem) return reject(problem.code, problem.message)
  const c = resource as unknown as ConsentShape
  if (c.status !== 'active') return reject('E_CONSENT_NOT_ACTIVE', `Consent.status is "${c.status}": only active consents are granted.`)
  const provision = c.provision
  if (provision?.type !== 'permit') return reject('E_UNSUPPORTED_PROVISION', 'Only a permit provision can be granted (a deny is a revoke or an opt-out: use `consent revoke`).')

  let patient: ConsentLine['patient']
  const identifier = c.patient?.identifier
  if (identifier?.system && identifier.value) patient = {identifier: `${identifier.system}|${identifier.value}`}
  else if (c.patient?.reference && PATIENT_REFERENCE.test(c.patient.reference)) patient = {reference: c.patient.reference}
  else return reject('E_PATIENT_IDENTIFIER', 'Consent.patient needs an identifier (system and value) or a Patient/id reference to an imported patient.')

  const grantees = (provision.actor ?? []).flatMap((actor) => {
    const match = ETHEREUM_ACTOR.exec(actor.reference?.identifier?.value ?? '')
    return match ? [match[1] as string] : []
  })
  if (grantees.length === 0) return reject('E_NO_GRANTEE', 'provision.actor must name the grantee by an identifier whose value is urn:ethereum:0x… (its address).')
  if (new Set(grantees.map((g) => g.toLowerCase())).size > 1) return reject('E_MULTIPLE_GRANTEES', 'One grantee per Consent: split this Consent into one per grantee.')

  const purposeCodes = (provision.purpose ?? []).map((p) => p.code ?? '')
  const unknownPurpose = purposeCodes.find((p) => !isPurpose(p))
  if (purposeCodes.length === 0 || unknownPurpose !== undefined) {
    return reject('E_BAD_PURPOSE', `provision.purpose must list purposes of use among ${PURPOSES.join(', ')}${unknownPurpose === undefined ? '' : ` (found "${unknownPurpose.slice(0, 20)}")`}.`)
  }
  const classes = new Set<DataClass>()
  for (const coding of provision.class ?? []) {
    const found = classesOfCoding(coding)
    if (!found) return reject('E_BAD_CLASS', `provision.class "${(coding.code ?? '').slice(0, 40)}" is neither a data class (${DATA_CLASSES.join(', ')}) nor a FHIR resource type.`)
    for (const cls of found) classes.add(cls)
  }
  if (classes.size === 0) return reject('E_BAD_CLASS', 'provision.class must name the data classes granted.')

  if (!provision.period?.end) return reject('E_NO_END', 'provision.period.end is required: every consent has an end.')
  let notBefore: number
  let notAfter: number
  try {
    notAfter = seconds(provision.period.end, 'provision.period.end')
    const start = provision.period.start ?? c.dateTime
    notBefore = start ? seconds(start, 'provision.period.start') : 0
  } catch (error) {
    return reject((error as MedctlError).code, (error as Error).message)
  }
  return {kind: 'consent', location, ...(id ? {id} : {}), patient, grantee: grantees[0] as string, purposes: [...new Set(purposeCodes)] as Purpose[], classes: [...classes], notBefore: Math.max(0, notBefore), notAfter, consent: resource}
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(/[;,\s]+/).map((v) => v.trim()).filter(Boolean)
}

/**
 * A CSV row (columns patient, grantee, purpose, classes, from, until and optionally id) to a
 * grant. Dates must be absolute: a duration would make a re-import a different consent.
 */
function parseCsvRow(row: Record<string, string>, location: Location, options: ConsentReadOptions): ConsentItem {
  const id = row.id || undefined
  const reject = (code: string, message: string): ConsentReject => ({kind: 'reject', location, ...(id ? {id} : {}), code, message})
  const patient = (row.patient ?? '').trim()
  const bar = patient.indexOf('|')
  if (bar <= 0 || bar === patient.length - 1) return reject('E_BAD_PATIENT', 'The patient column takes system|value, for example http://hospital.example/mrn|12345.')
  let grantee: string
  try {
    grantee = options.resolveGrantee((row.grantee ?? '').trim())
  } catch (error) {
    return reject((error as MedctlError).code ?? 'E_GRANTEE_NOT_FOUND', (error as Error).message)
  }
  const purposes = list(row.purpose ?? row.purposes).map((p) => p.toUpperCase())
  if (purposes.length === 0 || !purposes.every(isPurpose)) return reject('E_BAD_PURPOSE', `The purpose column lists purposes of use among ${PURPOSES.join(', ')}.`)
  const classes = list(row.classes)
  if (classes.length === 0 || !classes.every(isDataClass)) return reject('E_BAD_CLASS', `The classes column lists data classes among ${DATA_CLASSES.join(', ')}.`)
  if (!row.until) return reject('E_NO_END', 'The until column is required: every consent has an end.')
  let notBefore: number
  let notAfter: number
  try {
    notAfter = seconds(row.until, 'until')
    notBefore = row.from ? seconds(row.from, 'from') : 0
  } catch (error) {
    return reject((error as MedctlError).code, `${(error as Error).message} Dates are ISO dates such as 2027-01-31.`)
  }
  const uniquePurposes = [...new Set(purposes)] as Purpose[]
  const uniqueClasses = [...new Set(classes)] as DataClass[]
  const consent = consentResource({patient: {identifier: patient}, grantee, purposes: uniquePurposes, classes: uniqueClasses, notBefore, notAfter})
  if (id) consent.id = id
  return {kind: 'consent', location, ...(id ? {id} : {}), patient: {identifier: patient}, grantee, purposes: uniquePurposes, classes: uniqueClasses, notBefore, notAfter, consent}
}

function parseLine(line: string, location: Location): ConsentItem {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return {kind: 'reject', location, code: 'E_INVALID_JSON', message: `Not valid JSON: ${(error as Error).message}`}
  }
  return parseConsentResource(value, location)
}

async function* fromLines(file: string, lines: AsyncIterable<string>): AsyncGenerator<ConsentItem> {
  let lineNumber = 0
  for await (const line of lines) {
    lineNumber++
    if (line.trim() === '') continue
    yield parseLine(line, {file, line: lineNumber})
  }
}

function* fromJson(file: string, text: string): Generator<ConsentItem> {
  let value: {resourceType?: string; entry?: Array<{resource?: unknown}>}
  try {
    value = JSON.parse(text) as typeof value
  } catch (error) {
    yield {kind: 'reject', location: {file}, code: 'E_INVALID_JSON', message: `Not valid JSON: ${(error as Error).message}`}
    return
  }
  if (value?.resourceType !== 'Bundle') {
    yield parseConsentResource(value, {file})
    return
  }
  for (const [i, entry] of (value.entry ?? []).entries()) yield parseConsentResource(entry.resource, {file, entry: i})
}

async function* fromCsv(file: string, options: ConsentReadOptions): AsyncGenerator<ConsentItem> {
  const parser = createReadStream(file).pipe(parseCsv({columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true, relax_column_count: true, info: true}))
  try {
    for await (const {record, info} of parser as AsyncIterable<{record: Record<string, string>; info: {lines: number}}>) {
      yield parseCsvRow(record, {file, line: info.lines}, options)
    }
  } catch (error) {
    yield {kind: 'reject', location: {file}, code: 'E_CSV_SYNTAX', message: (error as Error).message}
  }
}

/** Every consent (or reject) of a file, streaming NDJSON and CSV line by line. */
export async function* readConsents(file: string, options: ConsentReadOptions): AsyncGenerator<ConsentItem> {
  const format = consentFormatOf(file)
  if (file !== '-' && (!existsSync(file) || !statSync(file).isFile())) throw usageError('E_NO_INPUT', `No such file: ${file}`)
  switch (format) {
    case 'ndjson':
      yield* fromLines(file, readLines(file === '-' ? (options.stdin ?? process.stdin) : createReadStream(file)))
      break
    case 'ndjson.gz':
      yield* fromLines(file, readLines(createReadStream(file).pipe(createGunzip())))
      break
    case 'json':
      yield* fromJson(file, readFileSync(file, 'utf8'))
      break
    case 'csv':
      yield* fromCsv(file, options)
      break
  }
}
