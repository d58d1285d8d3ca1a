import {existsSync, readFileSync, statSync} from 'node:fs'
import {MedctlError, usageError} from '../core/errors.js'
import {DATA_CLASSES, classOf, isDataClass, type DataClass} from '../fhir/data-classes.js'
import {readCsvRecords} from '../fhir/csv-input.js'
import {parseJson, parseSafeJson, shapeProblem} from '../fhir/json.js'
import {DEFAULT_MAX_LINE_BYTES, fileLines, splitLines, streamProblem, type LineItem, type LineProblem} from '../fhir/lines.js'
import type {FhirResource, Location} from '../fhir/types.js'
import {isKnownResourceType, validateFhir} from '../fhir/validate.js'
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
  /** The longest line or CSV row accepted, in bytes (default 64 MiB); a longer one is rejected. */
  maxLineBytes?: number
  /** The largest whole-JSON file (a Bundle) read, in bytes (default 256 MiB). */
  maxJsonBytes?: number
}

/**
 * The code of the one reject an input without a single consent in it yields (an empty file, a
 * header-only CSV, a Bundle without entries), at the file's location with no line: a service can
 * turn it into an E_EMPTY_INPUT failure instead of reporting "read 0" as success.
 */
export const EMPTY_INPUT = 'E_EMPTY_INPUT'

/** Whether a reject says the whole input held nothing to import. */
export function isEmptyInput(item: ConsentItem): item is ConsentReject {
  return item.kind === 'reject' && item.code === EMPTY_INPUT
}

function emptyInput(file: string, what = 'The input holds no consent.'): ConsentReject {
  return {kind: 'reject', location: {file}, code: EMPTY_INPUT, message: what}
}

function problemReject(location: Location, problem: LineProblem): ConsentReject {
  return {kind: 'reject', location, code: problem.code, message: problem.message}
}

type Format = 'ndjson' | 'ndjson.gz' | 'json' | 'csv'

export function consentFormatOf(file: string): Format {
  const lower = file.toLowerCase()
  if (file === '-' || lower.endsWith('.ndjson') || lower.endsWith('.jsonl')) return 'ndjson'
  if (lower.endsWith('.ndjson.gz') || lower.endsWith('.jsonl.gz')) return 'ndjson.gz'
  if (lower.endsWith('.json')) return 'json'
  if (lower.endsWith('.csv')) return 'csv'
  throw usageError(
    'E_UNKNOWN_FORMAT',
    'Consents come as FHIR R4 Consent NDJSON (.ndjson, .ndjson.gz), JSON (a Consent or a Bundle of them, .json) or CSV (.csv).',
  )
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

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/

/**
 * An ISO 8601 date or date-time (years 1970 to 9999, a real calendar day) to Unix seconds. What
 * `Date.parse` would stretch (year 99999, 2027-02-30, 2027-1-1) is refused.
 */
function seconds(value: unknown, what: string): number {
  const text = typeof value === 'string' ? value.trim() : ''
  const match = ISO_DATE.exec(text)
  const ms = match ? Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text) : Number.NaN
  const [year, month, day] = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0]
  const calendar = new Date(Date.UTC(year, month - 1, day))
  const realDay = calendar.getUTCFullYear() === year && calendar.getUTCMonth() === month - 1 && calendar.getUTCDate() === day
  if (!match || Number.isNaN(ms) || year < 1970 || year > 9999 || !realDay) {
    throw new MedctlError('E_BAD_DATE', `${what} is not an ISO date between the years 1970 and 9999 (such as 2027-01-31).`)
  }
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

/** A FHIR R4 Consent to the grant it asks for, or the reason it cannot be granted. Never throws. */
export function parseConsentResource(value: unknown, location: Location): ConsentItem {
  try {
    return parseConsent(value, location)
  } catch (error) {
    const code = error instanceof MedctlError ? error.code : error instanceof RangeError ? 'E_TOO_COMPLEX' : 'E_UNPROCESSABLE'
    return {kind: 'reject', location, code, message: 'The consent could not be processed.'}
  }
}

function parseConsent(value: unknown, location: Location): ConsentItem {
  if (!value || typeof value !== 'object' || Array.isArray(value))
    return {kind: 'reject', location, code: 'E_NOT_A_CONSENT', message: 'Expected a JSON object: a FHIR Consent.'}
  const resource = value as FhirResource
  const resourceType = isKnownResourceType(resource?.resourceType) ? resource.resourceType : undefined
  const id = typeof resource?.id === 'string' ? resource.id : undefined
  const reject = (code: string, message: string): ConsentReject => ({
    kind: 'reject',
    location,
    ...(resourceType ? {resourceType} : {}),
    ...(id ? {id} : {}),
    code,
    message,
  })
  if (resourceType !== 'Consent')
    return reject('E_NOT_A_CONSENT', `Expected a Consent resource, found ${resourceType ?? 'no (or no valid) resourceType'}.`)
  const problem = validateFhir(resource)
  if (problem) return reject(problem.code, problem.message)
  const c = resource as unknown as ConsentShape
  if (c.status !== 'active') return reject('E_CONSENT_NOT_ACTIVE', `Consent.status is "${c.status}": only active consents are granted.`)
  const provision = c.provision
  if (provision?.type !== 'permit')
    return reject(
      'E_UNSUPPORTED_PROVISION',
      'Only a permit provision can be granted (a deny is a revoke or an opt-out: use `consent revoke`).',
    )

  let patient: ConsentLine['patient']
  const identifier = c.patient?.identifier
  if (identifier?.system && identifier.value) patient = {identifier: `${identifier.system}|${identifier.value}`}
  else if (c.patient?.reference && PATIENT_REFERENCE.test(c.patient.reference)) patient = {reference: c.patient.reference}
  else
    return reject(
      'E_PATIENT_IDENTIFIER',
      'Consent.patient needs an identifier (system and value) or a Patient/id reference to an imported patient.',
    )

  const grantees = (Array.isArray(provision.actor) ? provision.actor : []).flatMap((actor) => {
    const match = ETHEREUM_ACTOR.exec(actor.reference?.identifier?.value ?? '')
    return match ? [match[1] as string] : []
  })
  if (grantees.length === 0)
    return reject('E_NO_GRANTEE', 'provision.actor must name the grantee by an identifier whose value is urn:ethereum:0x… (its address).')
  if (new Set(grantees.map((g) => g.toLowerCase())).size > 1)
    return reject('E_MULTIPLE_GRANTEES', 'One grantee per Consent: split this Consent into one per grantee.')

  const purposeCodes = (Array.isArray(provision.purpose) ? provision.purpose : []).map((p) => (typeof p?.code === 'string' ? p.code : ''))
  const unknownPurpose = purposeCodes.find((p) => !isPurpose(p))
  if (purposeCodes.length === 0 || unknownPurpose !== undefined) {
    return reject('E_BAD_PURPOSE', `provision.purpose must list purposes of use among ${PURPOSES.join(', ')}.`)
  }
  const classes = new Set<DataClass>()
  for (const coding of Array.isArray(provision.class) ? provision.class : []) {
    const found = classesOfCoding(coding)
    if (!found)
      return reject('E_BAD_CLASS', `A provision.class is neither a data class (${DATA_CLASSES.join(', ')}) nor a FHIR resource type.`)
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
  return {
    kind: 'consent',
    location,
    ...(id ? {id} : {}),
    patient,
    grantee: grantees[0] as string,
    purposes: [...new Set(purposeCodes)] as Purpose[],
    classes: [...classes],
    notBefore: Math.max(0, notBefore),
    notAfter,
    consent: resource,
  }
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[;,\s]+/)
    .map((v) => v.trim())
    .filter(Boolean)
}

/**
 * A CSV row (columns patient, grantee, purpose, classes, from, until and optionally id) to a
 * grant. Dates must be absolute: a duration would make a re-import a different consent.
 */
function parseCsvRow(row: Record<string, string>, location: Location, options: ConsentReadOptions): ConsentItem {
  try {
    return parseCsvFields(row, location, options)
  } catch (error) {
    return {
      kind: 'reject',
      location,
      code: error instanceof MedctlError ? error.code : 'E_UNPROCESSABLE',
      message: 'The row could not be processed.',
    }
  }
}

function parseCsvFields(row: Record<string, string>, location: Location, options: ConsentReadOptions): ConsentItem {
  const id = row.id || undefined
  if (id !== undefined && !/^[A-Za-z0-9\-.]{1,64}$/.test(id))
    return {
      kind: 'reject',
      location,
      code: 'E_INVALID_ID',
      message: 'The id column is not a FHIR id (1 to 64 of A-Z, a-z, 0-9, "-" and ".").',
    }
  const reject = (code: string, message: string): ConsentReject => ({kind: 'reject', location, ...(id ? {id} : {}), code, message})
  const patient = (row.patient ?? '').trim()
  const bar = patient.indexOf('|')
  if (bar <= 0 || bar === patient.length - 1)
    return reject('E_BAD_PATIENT', 'The patient column takes system|value, for example http://hospital.example/mrn|12345.')
  let grantee: string
  try {
    grantee = options.resolveGrantee((row.grantee ?? '').trim())
  } catch (error) {
    return reject((error as MedctlError).code ?? 'E_GRANTEE_NOT_FOUND', (error as Error).message)
  }
  const purposes = list(row.purpose ?? row.purposes).map((p) => p.toUpperCase())
  if (purposes.length === 0 || !purposes.every(isPurpose))
    return reject('E_BAD_PURPOSE', `The purpose column lists purposes of use among ${PURPOSES.join(', ')}.`)
  const classes = list(row.classes)
  if (classes.length === 0 || !classes.every(isDataClass))
    return reject('E_BAD_CLASS', `The classes column lists data classes among ${DATA_CLASSES.join(', ')}.`)
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
  const consent = consentResource({
    patient: {identifier: patient},
    grantee,
    purposes: uniquePurposes,
    classes: uniqueClasses,
    notBefore,
    notAfter,
  })
  if (id) consent.id = id
  return {
    kind: 'consent',
    location,
    ...(id ? {id} : {}),
    patient: {identifier: patient},
    grantee,
    purposes: uniquePurposes,
    classes: uniqueClasses,
    notBefore,
    notAfter,
    consent,
  }
}

function parseLine(line: string, location: Location): ConsentItem {
  const parsed = parseSafeJson(line)
  if (parsed.problem) return problemReject(location, parsed.problem)
  return parseConsentResource(parsed.value, location)
}

async function* fromLines(file: string, lines: AsyncIterable<LineItem>): AsyncGenerator<ConsentItem> {
  let any = false
  for await (const item of lines) {
    const location: Location = {file, line: item.line}
    if (item.problem) {
      if (item.problem.code === EMPTY_INPUT) break
      any = true
      yield problemReject(location, item.problem)
      continue
    }
    if (item.text.trim() === '') continue
    any = true
    yield parseLine(item.text, location)
  }
  if (!any) yield emptyInput(file)
}

function* fromJson(file: string, maxBytes: number): Generator<ConsentItem> {
  let text: string
  try {
    if (statSync(file).size > maxBytes) {
      yield problemReject(
        {file},
        {code: 'E_FILE_TOO_LARGE', message: `The JSON file is larger than ${maxBytes} bytes: write it as NDJSON (one Consent per line).`},
      )
      return
    }
    text = new TextDecoder('utf-8', {fatal: true}).decode(readFileSync(file))
  } catch (error) {
    yield problemReject(
      {file},
      error instanceof TypeError ? {code: 'E_INVALID_UTF8', message: 'The file is not valid UTF-8 text.'} : streamProblem(error),
    )
    return
  }
  if (text.trim() === '') {
    yield emptyInput(file)
    return
  }
  const parsed = parseJson(text)
  if (parsed.problem) {
    yield problemReject({file}, parsed.problem)
    return
  }
  const value = parsed.value as {resourceType?: unknown; entry?: unknown} | null
  if (!value || typeof value !== 'object' || Array.isArray(value) || value.resourceType !== 'Bundle') {
    const shape = shapeProblem(value)
    yield shape ? problemReject({file}, shape) : parseConsentResource(value, {file})
    return
  }
  if (value.entry === undefined || (Array.isArray(value.entry) && value.entry.length === 0)) {
    yield emptyInput(file, 'The Bundle has no entries.')
    return
  }
  if (!Array.isArray(value.entry)) {
    yield {kind: 'reject', location: {file}, resourceType: 'Bundle', code: 'E_INVALID_RESOURCE', message: 'Bundle.entry must be an array.'}
    return
  }
  for (const [i, entry] of (value.entry as unknown[]).entries()) {
    const location: Location = {file, entry: i}
    if (!entry || typeof entry !== 'object' || Array.isArray(entry) || (entry as {resource?: unknown}).resource === undefined) {
      yield {kind: 'reject', location, code: 'E_NOT_A_RESOURCE', message: 'The bundle entry has no resource.'}
      continue
    }
    const resource = (entry as {resource?: unknown}).resource
    const shape = shapeProblem(resource)
    yield shape ? problemReject(location, shape) : parseConsentResource(resource, location)
  }
}

async function* fromCsv(file: string, options: ConsentReadOptions): AsyncGenerator<ConsentItem> {
  let header: string[] | undefined
  let rows = 0
  for await (const item of readCsvRecords(file, {maxLineBytes: options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES})) {
    if (item.problem) {
      if (item.problem.code === EMPTY_INPUT) continue
      if (header) rows++
      yield problemReject({file, ...(item.line === undefined ? {} : {line: item.line})}, item.problem)
      continue
    }
    const location: Location = {file, line: item.line}
    if (!header) {
      header = item.record.map((h) => h.trim().toLowerCase())
      if (new Set(header).size !== header.length) {
        yield problemReject(location, {
          code: 'E_CSV_DUPLICATE_HEADER',
          message: 'The header names a column twice: which one is meant is ambiguous, so the file is not read.',
        })
        return
      }
      continue
    }
    rows++
    if (item.record.some((cell) => cell.includes('\uFFFD'))) {
      yield problemReject(location, {
        code: 'E_INVALID_UTF8',
        message: 'The row holds U+FFFD, the mark of an earlier bad conversion to UTF-8.',
      })
      continue
    }
    const record: Record<string, string> = {}
    header.forEach((h, i) => {
      record[h] = item.record[i] ?? ''
    })
    yield parseCsvRow(record, location, options)
  }
  if (!header || rows === 0) yield emptyInput(file, 'The CSV has no data rows.')
}

/**
 * Every consent (or reject) of a file, streaming NDJSON and CSV line by line. No single line,
 * entry, row or gzip member stops it: each problem is a reject with a code and a location, and an
 * input with nothing in it yields one EMPTY_INPUT reject (see isEmptyInput).
 */
export async function* readConsents(file: string, options: ConsentReadOptions): AsyncGenerator<ConsentItem> {
  const format = consentFormatOf(file)
  if (file !== '-' && (!existsSync(file) || !statSync(file).isFile())) throw usageError('E_NO_INPUT', `No such file: ${file}`)
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  switch (format) {
    case 'ndjson':
      yield* fromLines(
        file,
        file === '-'
          ? splitLines((options.stdin ?? process.stdin) as AsyncIterable<Buffer | string>, {maxLineBytes})
          : fileLines(file, {maxLineBytes}),
      )
      break
    case 'ndjson.gz':
      yield* fromLines(file, fileLines(file, {maxLineBytes, gzip: true}))
      break
    case 'json':
      yield* fromJson(file, options.maxJsonBytes ?? 256 * 1024 * 1024)
      break
    case 'csv':
      yield* fromCsv(file, options)
      break
  }
}
