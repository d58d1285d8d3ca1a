import {createHash} from 'node:crypto'
import {createReadStream, existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {Readable} from 'node:stream'
import {createGunzip} from 'node:zlib'
import canonicalize from 'canonicalize'
import {parse as parseCsv} from 'csv-parse'
import {MedctlError, usageError} from '../cli/errors.js'
import {rowToResources, type CsvMapping} from './csv-mapping.js'
import {isReferenceData} from './data-classes.js'
import {ReferenceResolver, idFromFullUrl, rewriteReferences} from './references.js'
import type {FhirResource, InputItem, Location} from './types.js'
import {validateFhir} from './validate.js'

export interface ReadOptions {
  mapping?: CsvMapping
  resolver?: ReferenceResolver
  /** Where "-" reads from (default: process.stdin). */
  stdin?: NodeJS.ReadableStream
}

type Format = 'json' | 'ndjson' | 'ndjson.gz' | 'csv' | 'stdin'
interface Source {
  path: string
  format: Format
  rank: number
}

const EXTENSIONS: Array<[string, Format]> = [['.ndjson.gz', 'ndjson.gz'], ['.jsonl.gz', 'ndjson.gz'], ['.ndjson', 'ndjson'], ['.jsonl', 'ndjson'], ['.json', 'json'], ['.csv', 'csv']]

function formatOf(path: string): Format | undefined {
  const lower = path.toLowerCase()
  return EXTENSIONS.find(([ext]) => lower.endsWith(ext))?.[1]
}

function walk(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true})
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : entry.isFile() && formatOf(entry.name) ? [join(dir, entry.name)] : []))
}

const REFERENCE_HINT = /"resourceType"\s*:\s*"(Organization|Practitioner|PractitionerRole|Location|Medication)"/
const PATIENT_HINT = /"resourceType"\s*:\s*"Patient"/

/**
 * Reference data first (organisations, practitioners: what patient bundles point at), then
 * patients, then the rest (a Bulk Data export's Observation.ndjson sorts before Patient.ndjson).
 */
function rankOf(path: string, format: Format): number {
  if (format === 'csv' || format === 'stdin') return 1
  let head = ''
  try {
    if (format === 'json') head = readFileSync(path, 'utf8')
    else if (format === 'ndjson') head = readFileSync(path, 'utf8').slice(0, 4096).split('\n')[0] ?? ''
    else return 2
  } catch {
    return 2
  }
  if (format === 'json' && PATIENT_HINT.test(head)) return 1
  if (REFERENCE_HINT.test(head)) return 0
  return PATIENT_HINT.test(head) ? 1 : 2
}

export function expandSources(sources: readonly string[], options: {mapping?: CsvMapping} = {}): Source[] {
  const files: Source[] = []
  for (const source of sources) {
    if (source === '-') {
      files.push({path: '-', format: 'stdin', rank: 1})
      continue
    }
    if (!existsSync(source)) throw usageError('E_FILE_NOT_FOUND', `No such file or directory: ${source}`)
    const paths = statSync(source).isDirectory() ? walk(source) : [source]
    for (const path of paths) {
      const format = formatOf(path) ?? 'json'
      if (format === 'csv' && !options.mapping) throw usageError('E_CSV_MAPPING', `${path} is CSV: pass --mapping FILE to say how its columns map to FHIR.`)
      files.push({path, format, rank: rankOf(path, format)})
    }
  }
  return files.map((f, i) => ({f, i})).sort((a, b) => a.f.rank - b.f.rank || a.i - b.i).map(({f}) => f)
}

function resourceKey(resource: FhirResource): string {
  return resource.id ? `${resource.resourceType}/${resource.id}` : `sha256:${createHash('sha256').update(canonicalize(resource) ?? '').digest('hex')}`
}

function looksBinary(text: string): boolean {
  if (text.includes('\u0000')) return true
  const replacement = text.match(/\uFFFD/g)?.length ?? 0
  return replacement > 0 && replacement / Math.max(1, text.length) > 0.01
}

/** Validates, resolves references and yields one resource (or expands a Bundle). */
function* processValue(value: unknown, location: Location, resolver: ReferenceResolver): Generator<InputItem> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    yield {kind: 'reject', location, code: 'E_NOT_A_RESOURCE', message: 'Expected a JSON object with a resourceType.'}
    return
  }
  const resource = value as FhirResource
  if (typeof resource.resourceType !== 'string') {
    yield {kind: 'reject', location, code: 'E_NOT_A_RESOURCE', message: 'The object has no resourceType.'}
    return
  }
  if (resource.resourceType === 'Bundle') {
    yield* processBundle(resource, location, resolver)
    return
  }
  yield checkResource(resource, location, resolver)
}

function checkResource(resource: FhirResource, location: Location, resolver: ReferenceResolver): InputItem {
  const base = {resourceType: resource.resourceType, ...(resource.id ? {id: resource.id} : {})}
  const dangling = rewriteReferences(resource, resolver)
  if (dangling.length > 0) {
    return {kind: 'reject', location, ...base, code: 'E_DANGLING_REFERENCE', message: `Reference${dangling.length > 1 ? 's' : ''} resolving to nothing in this import: ${dangling.slice(0, 3).join(', ')}`}
  }
  const problem = validateFhir(resource)
  if (problem) return {kind: 'reject', location, ...base, code: problem.code, message: problem.message}
  // Outside bundles only what others point at across files is remembered (bounded memory).
  if (location.entry === undefined && (resource.resourceType === 'Patient' || isReferenceData(resource))) resolver.register(resource)
  return {kind: 'resource', resource, location, key: resourceKey(resource)}
}

function* processBundle(bundle: FhirResource, location: Location, resolver: ReferenceResolver): Generator<InputItem> {
  const entries = bundle.entry
  if (entries === undefined) return
  if (!Array.isArray(entries)) {
    yield {kind: 'reject', location, resourceType: 'Bundle', code: 'E_INVALID_RESOURCE', message: 'Bundle.entry must be an array.'}
    return
  }
  // First pass: every entry's identity, so entries can point at later ones (urn:uuid, conditional).
  for (const entry of entries as Array<{fullUrl?: string; resource?: FhirResource}>) {
    const resource = entry?.resource
    if (!resource || typeof resource !== 'object') continue
    if (!resource.id) {
      const id = idFromFullUrl(entry.fullUrl)
      if (id) resource.id = id
    }
    resolver.register(resource, entry.fullUrl)
  }
  for (const [index, entry] of (entries as Array<{resource?: unknown}>).entries()) {
    const here: Location = {...location, entry: index}
    if (!entry || typeof entry !== 'object' || entry.resource === undefined) {
      yield {kind: 'reject', location: here, code: 'E_NOT_A_RESOURCE', message: 'The bundle entry has no resource.'}
      continue
    }
    yield* processValue(entry.resource, here, resolver)
  }
  resolver.endBundle()
}

export async function* readLines(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  const lines = createInterface({input: stream, crlfDelay: Number.POSITIVE_INFINITY})
  for await (const line of lines) yield line
}

async function* readNdjson(file: string, lines: AsyncIterable<string>, resolver: ReferenceResolver): AsyncGenerator<InputItem> {
  let lineNumber = 0
  let any = false
  for await (const line of lines) {
    lineNumber++
    if (line.trim() === '') continue
    any = true
    const location: Location = {file, line: lineNumber}
    if (looksBinary(line)) {
      yield {kind: 'reject', location, code: 'E_BINARY_INPUT', message: 'The line is binary data, not JSON text.'}
      continue
    }
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      yield {kind: 'reject', location, code: 'E_INVALID_JSON', message: `Not valid JSON: ${(error as Error).message}`}
      continue
    }
    yield* processValue(value, location, resolver)
  }
  if (!any) yield {kind: 'reject', location: {file}, code: 'E_EMPTY_INPUT', message: 'The input is empty.'}
}

function* readJsonText(file: string, text: string, resolver: ReferenceResolver): Generator<InputItem> {
  if (text.trim() === '') {
    yield {kind: 'reject', location: {file}, code: 'E_EMPTY_INPUT', message: 'The input is empty.'}
    return
  }
  if (looksBinary(text)) {
    yield {kind: 'reject', location: {file}, code: 'E_BINARY_INPUT', message: 'The file is binary data, not JSON text.'}
    return
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    yield {kind: 'reject', location: {file}, code: 'E_INVALID_JSON', message: `Not valid JSON: ${(error as Error).message}`}
    return
  }
  yield* processValue(value, {file}, resolver)
}

async function* readCsv(file: string, mapping: CsvMapping, resolver: ReferenceResolver): AsyncGenerator<InputItem> {
  const parser = createReadStream(file).pipe(parseCsv({columns: true, bom: true, skip_empty_lines: true, trim: true, relax_column_count: true}))
  let row = 1 // the header
  try {
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      row++
      const location: Location = {file, line: row}
      let resources: FhirResource[]
      try {
        resources = rowToResources(record, mapping)
      } catch (error) {
        yield {kind: 'reject', location, code: (error as MedctlError).code ?? 'E_CSV_ROW', message: (error as Error).message}
        continue
      }
      for (const resource of resources) yield checkResource(resource, location, resolver)
    }
  } catch (error) {
    yield {kind: 'reject', location: {file, line: row + 1}, code: 'E_CSV_SYNTAX', message: (error as Error).message}
  }
  if (row === 1) yield {kind: 'reject', location: {file}, code: 'E_EMPTY_INPUT', message: 'The CSV has no data rows.'}
}

async function readAllStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))
  return Buffer.concat(chunks)
}

/**
 * Every resource (or reject) of the inputs, streaming: NDJSON line by line with bounded memory,
 * JSON files and Bundles whole. Each resource is validated against FHIR R4 and its references
 * resolved (urn:uuid, conditional) to Type/id; whatever fails is yielded as a reject with a code
 * and a location, and reading goes on.
 */
export async function* readInputs(sources: readonly string[], options: ReadOptions = {}): AsyncGenerator<InputItem> {
  const resolver = options.resolver ?? new ReferenceResolver()
  for (const source of expandSources(sources, options)) {
    switch (source.format) {
      case 'ndjson':
        yield* readNdjson(source.path, readLines(createReadStream(source.path)), resolver)
        break
      case 'ndjson.gz':
        yield* readNdjson(source.path, readLines(createReadStream(source.path).pipe(createGunzip())), resolver)
        break
      case 'json':
        yield* readJsonText(source.path, readFileSync(source.path, 'utf8'), resolver)
        break
      case 'csv':
        yield* readCsv(source.path, options.mapping as CsvMapping, resolver)
        break
      case 'stdin': {
        const bytes = await readAllStream(options.stdin ?? process.stdin)
        const text = bytes.toString('utf8')
        const trimmed = text.trimStart()
        let whole = false
        if (trimmed.startsWith('{')) {
          try {
            JSON.parse(text)
            whole = true
          } catch {
            whole = false
          }
        }
        if (whole) yield* readJsonText('-', text, resolver)
        else yield* readNdjson('-', readLines(Readable.from([text])), resolver)
        break
      }
    }
  }
}

