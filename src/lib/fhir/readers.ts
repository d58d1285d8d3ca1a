import {createHash} from 'node:crypto'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import canonicalize from 'canonicalize'
import {MedctlError, usageError} from '../core/errors.js'
import {readCsvRecords} from './csv-input.js'
import {rowToResources, type CsvMapping} from './csv-mapping.js'
import {isReferenceData} from './data-classes.js'
import {parseJson, shapeProblem} from './json.js'
import {DEFAULT_MAX_LINE_BYTES, fileLines, headBytes, splitLines, streamProblem, type LineItem, type LineProblem} from './lines.js'
import {patientLinkOf} from './patients.js'
import {ReferenceResolver, idFromFullUrl, rewriteReferences, type ReferenceProblem} from './references.js'
import type {FhirResource, InputItem, Location} from './types.js'
import {isKnownResourceType, validateFhir, type ValidationProblem} from './validate.js'
import type {ValidationPool, ValidationReply} from './validate-pool.js'

export interface ReadOptions {
  mapping?: CsvMapping
  resolver?: ReferenceResolver
  /** Where "-" reads from (default: process.stdin). */
  stdin?: NodeJS.ReadableStream
  /** The longest NDJSON line or CSV record accepted, in bytes (default 64 MiB); longer ones are rejected. */
  maxLineBytes?: number
  /** The largest whole-JSON file (a Bundle) read, in bytes (default 256 MiB); a larger one is rejected. */
  maxJsonBytes?: number
  /** Base URLs of this organisation's FHIR server: absolute references under them are local (Type/id). */
  localBases?: readonly string[]
  /**
   * Validate on these threads instead of inline (same results, same order): each resource item
   * then also carries its serialised JSON and the SHA-256 of its canonical JSON.
   */
  validator?: ValidationPool
}

export const DEFAULT_MAX_JSON_BYTES = 256 * 1024 * 1024

type Format = 'json' | 'ndjson' | 'ndjson.gz' | 'csv' | 'stdin' | 'skipped'
export interface Source {
  path: string
  format: Format
  rank: number
  /** Why a file found in a directory is not read (a symbolic link, a device…): reported, never silent. */
  problem?: LineProblem
}

const EXTENSIONS: Array<[string, Format]> = [
  ['.ndjson.gz', 'ndjson.gz'],
  ['.jsonl.gz', 'ndjson.gz'],
  ['.ndjson', 'ndjson'],
  ['.jsonl', 'ndjson'],
  ['.json', 'json'],
  ['.csv', 'csv'],
]

function formatOf(path: string): Format | undefined {
  const lower = path.toLowerCase()
  return EXTENSIONS.find(([ext]) => lower.endsWith(ext))?.[1]
}

/**
 * The input files under a directory, sorted. Symbolic links are not followed (a link may lead out
 * of the directory, or in a loop): each one that names an input file is listed as skipped, with a
 * reason, so the report says so; name the target itself to import it.
 */
function walk(dir: string): Array<{path: string; problem?: LineProblem}> {
  return readdirSync(dir, {withFileTypes: true})
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry): Array<{path: string; problem?: LineProblem}> => {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) return walk(path)
      if (entry.isSymbolicLink()) {
        return [
          {
            path,
            problem: {
              code: 'E_SYMLINK_SKIPPED',
              message: 'A symbolic link inside a directory is not followed (it may lead outside it): name its target to import it.',
            },
          },
        ]
      }
      if (!formatOf(entry.name)) return []
      if (!entry.isFile())
        return [{path, problem: {code: 'E_NOT_A_REGULAR_FILE', message: 'Not a regular file (a FIFO, socket or device): skipped.'}}]
      return [{path}]
    })
}

const REFERENCE_HINT = /"resourceType"\s*:\s*"(Organization|Practitioner|PractitionerRole|Location|Medication)"/
const PATIENT_HINT = /"resourceType"\s*:\s*"Patient"/
const RANK_HEAD_BYTES = 1024 * 1024

/**
 * Reference data first (organisations, practitioners: what patient bundles point at), then
 * patients, then the rest (a Bulk Data export's Observation.ndjson sorts before Patient.ndjson).
 * Looks at the first MiB only.
 */
function rankOf(path: string, format: Format): number {
  if (format === 'csv' || format === 'stdin') return 1
  let head = ''
  try {
    if (format === 'json') head = headBytes(path, RANK_HEAD_BYTES).toString('utf8')
    else if (format === 'ndjson') head = headBytes(path, 4096).toString('utf8').split('\n')[0] ?? ''
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
    // A path the user named is followed even when it is a link: they chose it.
    const found = statSync(source).isDirectory() ? walk(source) : [{path: source}]
    for (const {path, problem} of found) {
      if (problem) {
        files.push({path, format: 'skipped', rank: -1, problem})
        continue
      }
      const format = formatOf(path) ?? 'json'
      if (format === 'csv' && !options.mapping)
        throw usageError('E_CSV_MAPPING', `${path} is CSV: pass --mapping FILE to say how its columns map to FHIR.`)
      files.push({path, format, rank: rankOf(path, format)})
    }
  }
  return files
    .map((f, i) => ({f, i}))
    .sort((a, b) => a.f.rank - b.f.rank || a.i - b.i)
    .map(({f}) => f)
}

function resourceKey(resource: FhirResource): string {
  return resource.id
    ? `${resource.resourceType}/${resource.id}`
    : `sha256:${createHash('sha256')
        .update(canonicalize(resource) ?? '')
        .digest('hex')}`
}

function looksBinary(text: string): boolean {
  if (text.includes('\u0000')) return true
  const replacement = text.match(/\uFFFD/g)?.length ?? 0
  return replacement > 0 && replacement / Math.max(1, text.length) > 0.01
}

/** A reject that names no value of the input: code, location, and what kind of resource it was. */
function rejectOf(location: Location, problem: LineProblem, resource?: {resourceType?: unknown; id?: unknown}): InputItem {
  const resourceType = isKnownResourceType(resource?.resourceType) ? resource.resourceType : undefined
  const id = typeof resource?.id === 'string' ? resource.id : undefined
  return {
    kind: 'reject',
    location,
    ...(resourceType ? {resourceType} : {}),
    ...(id ? {id} : {}),
    code: problem.code,
    message: problem.message,
  }
}

/**
 * Runs one input value through `work`, turning anything it throws into a reject of that value: a
 * reader survives any single bad line, entry or row.
 */
function* guarded(location: Location, value: unknown, work: () => Generator<InputItem>): Generator<InputItem> {
  const done: InputItem[] = []
  try {
    for (const item of work()) done.push(item)
  } catch (error) {
    const code = error instanceof MedctlError ? error.code : error instanceof RangeError ? 'E_TOO_COMPLEX' : 'E_UNPROCESSABLE'
    done.push(
      rejectOf(
        location,
        {
          code,
          message:
            code === 'E_UNPROCESSABLE' ? 'The input could not be processed.' : 'The input is too large or too deeply nested to process.',
        },
        value as FhirResource,
      ),
    )
  }
  yield* done
}

/** Bundles inside Bundles (a document in a collection…) deeper than this are rejected. */
const MAX_BUNDLE_NESTING = 8

/** Validates, resolves references and yields one resource (or expands a Bundle). */
function* processValue(value: unknown, location: Location, resolver: ReferenceResolver, nesting = 0): Generator<InputItem> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    yield rejectOf(location, {code: 'E_NOT_A_RESOURCE', message: 'Expected a JSON object with a resourceType.'})
    return
  }
  const resource = value as FhirResource
  if (typeof resource.resourceType !== 'string') {
    yield rejectOf(location, {code: 'E_NOT_A_RESOURCE', message: 'The object has no resourceType.'})
    return
  }
  if (resource.resourceType === 'Bundle') {
    if (nesting >= MAX_BUNDLE_NESTING) {
      yield rejectOf(location, {code: 'E_TOO_DEEP', message: `Bundles are nested more than ${MAX_BUNDLE_NESTING} levels deep.`}, resource)
      return
    }
    yield* processBundle(resource, location, resolver, nesting + 1)
    return
  }
  // Checked per resource (a Bundle entry by entry), so one bad entry never costs its neighbours.
  const shape = shapeProblem(resource)
  if (shape) {
    yield rejectOf(location, shape, resource)
    return
  }
  yield checkResource(resource, location, resolver)
}

function referenceMessage(problems: ReferenceProblem[]): LineProblem {
  const paths = problems
    .slice(0, 3)
    .map((p) => p.path)
    .join(', ')
  const more = problems.length > 3 ? ` and ${problems.length - 3} more` : ''
  const foreign = problems.filter((p) => p.kind === 'foreign')
  if (foreign.length > 0) {
    return {
      code: 'E_FOREIGN_REFERENCE',
      message: `A reference points at a Patient on another FHIR server (at ${foreign
        .slice(0, 3)
        .map((p) => p.path)
        .join(', ')}); it is never attached to a local patient. Pass --fhir-base when that server is yours.`,
    }
  }
  if (problems.some((p) => p.kind === 'invalid'))
    return {
      code: 'E_INVALID_REFERENCE',
      message: `A reference is not a valid FHIR reference (Type/id with a FHIR id) (at ${paths}${more}).`,
    }
  return {
    code: 'E_DANGLING_REFERENCE',
    message: `${problems.length > 1 ? 'References resolve' : 'A reference resolves'} to nothing in this import (at ${paths}${more}).`,
  }
}

/**
 * A resource whose validation runs on a thread: `finish` turns the reply into the item the inline
 * path would have given. A `barrier` is registered with the resolver when valid (a Patient or
 * reference data outside a bundle), so nothing after it is read before its reply is in.
 */
interface PendingCheck {
  kind: 'pending'
  json: string
  barrier: boolean
  finish: (reply: ValidationReply) => InputItem
}

type ReadItem = InputItem | PendingCheck

/** Resources longer than this (UTF-16 code units of their JSON) are validated on the reading thread. */
const MAX_THREAD_JSON = 1024 * 1024

/** The resolvers of reads whose validation runs on threads: their checkResource defers it. */
const deferring = new WeakSet<ReferenceResolver>()

function checkResource(resource: FhirResource, location: Location, resolver: ReferenceResolver): InputItem {
  const problems = rewriteReferences(resource, resolver)
  if (problems.length > 0) return rejectOf(location, referenceMessage(problems), resource)
  const json = deferring.has(resolver) ? JSON.stringify(resource) : undefined
  // A very large resource is validated here: a thread's heap is capped for the common case.
  if (json !== undefined && json.length <= MAX_THREAD_JSON) {
    const barrier = location.entry === undefined && (resource.resourceType === 'Patient' || isReferenceData(resource))
    const finish = (reply: ValidationReply): InputItem => {
      if (reply.thrown !== undefined) {
        const code = reply.thrown
        return rejectOf(
          location,
          {
            code,
            message:
              code === 'E_UNPROCESSABLE' ? 'The input could not be processed.' : 'The input is too large or too deeply nested to process.',
          },
          resource,
        )
      }
      const item = afterValidation(resource, location, resolver, reply.problem)
      return item.kind === 'resource' ? {...item, json, digest: reply.digest} : item
    }
    return {kind: 'pending', json, barrier, finish} as PendingCheck as unknown as InputItem
  }
  const item = afterValidation(resource, location, resolver, validateFhir(resource))
  return json !== undefined && item.kind === 'resource' ? {...item, json} : item
}

function afterValidation(
  resource: FhirResource,
  location: Location,
  resolver: ReferenceResolver,
  problem: ValidationProblem | undefined,
): InputItem {
  if (problem) return rejectOf(location, problem, resource)
  if (resource.resourceType !== 'Patient' && !isReferenceData(resource)) {
    const link = patientLinkOf(resource)
    if (link.kind === 'problem') return rejectOf(location, {code: link.code, message: link.message}, resource)
  }
  // Outside bundles only what others point at across files is remembered (bounded memory).
  if (location.entry === undefined && (resource.resourceType === 'Patient' || isReferenceData(resource))) resolver.register(resource)
  return {kind: 'resource', resource, location, key: resourceKey(resource)}
}

/** Resources validated ahead of the one the consumer waits for (bounds what is in flight). */
const VALIDATION_WINDOW = 1024

/**
 * Replaces each pending check by its validated item, in input order, with at most
 * VALIDATION_WINDOW in flight; a barrier is settled before the next item is read.
 */
async function* settle(items: AsyncIterable<ReadItem>, pool: ValidationPool): AsyncGenerator<InputItem> {
  const queue: Array<InputItem | Promise<InputItem>> = []
  const settleOne = (pending: PendingCheck): Promise<InputItem> => {
    const item = pool.validate(pending.json).then((reply) => pending.finish(reply))
    // Awaited in order below; this only keeps a failure after the consumer stopped from going unhandled.
    item.catch(() => undefined)
    return item
  }
  for await (const item of items) {
    if (item.kind === 'pending') {
      if (item.barrier) {
        const done = settleOne(item)
        pool.send()
        queue.push(await done)
      } else queue.push(settleOne(item))
    } else queue.push(item)
    while (queue.length > VALIDATION_WINDOW) {
      pool.send()
      yield await (queue.shift() as InputItem | Promise<InputItem>)
    }
  }
  pool.send()
  while (queue.length > 0) yield await (queue.shift() as InputItem | Promise<InputItem>)
}

function* processBundle(bundle: FhirResource, location: Location, resolver: ReferenceResolver, nesting: number): Generator<InputItem> {
  const entries = bundle.entry
  if (entries === undefined) return
  if (!Array.isArray(entries)) {
    yield rejectOf(location, {code: 'E_INVALID_RESOURCE', message: 'Bundle.entry must be an array.'}, {resourceType: 'Bundle'})
    return
  }
  resolver.beginBundle()
  try {
    // First pass: every entry's identity, so entries can point at later ones (urn:uuid, conditional).
    for (const entry of entries as Array<{fullUrl?: unknown; resource?: FhirResource} | null>) {
      const resource = entry?.resource
      if (!resource || typeof resource !== 'object' || Array.isArray(resource)) continue
      if (resource.id === undefined) {
        const id = idFromFullUrl(entry?.fullUrl)
        if (id) resource.id = id
      }
      resolver.register(resource, typeof entry?.fullUrl === 'string' ? entry.fullUrl : undefined)
    }
    for (const [index, entry] of (entries as Array<{resource?: unknown} | null>).entries()) {
      // A nested Bundle keeps the outer entry's index and adds the inner ones as a path ("3.1").
      const here: Location =
        location.entry === undefined
          ? {...location, entry: index}
          : {...location, entryPath: `${location.entryPath ?? String(location.entry)}.${index}`}
      if (!entry || typeof entry !== 'object' || Array.isArray(entry) || entry.resource === undefined) {
        yield rejectOf(here, {code: 'E_NOT_A_RESOURCE', message: 'The bundle entry has no resource.'})
        continue
      }
      yield* guarded(here, entry.resource, () => processValue(entry.resource, here, resolver, nesting))
    }
  } finally {
    resolver.endBundle()
  }
}

/** Lines of a stream as strings (readline); kept for callers that need no line checks. */
export async function* readLines(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  const lines = createInterface({input: stream, crlfDelay: Number.POSITIVE_INFINITY})
  for await (const line of lines) yield line
}

/** One JSON text (a line, a file) to its items: parse and shape checks, then the resource or bundle. */
function* processText(text: string, location: Location, resolver: ReferenceResolver): Generator<InputItem> {
  if (looksBinary(text)) {
    yield rejectOf(location, {
      code: 'E_BINARY_INPUT',
      message: location.line === undefined ? 'The file is binary data, not JSON text.' : 'The line is binary data, not JSON text.',
    })
    return
  }
  const parsed = parseJson(text)
  if (parsed.problem) {
    yield rejectOf(location, parsed.problem)
    return
  }
  yield* guarded(location, parsed.value, () => processValue(parsed.value, location, resolver))
}

async function* readNdjson(file: string, lines: AsyncIterable<LineItem>, resolver: ReferenceResolver): AsyncGenerator<InputItem> {
  let any = false
  for await (const item of lines) {
    const location: Location = {file, line: item.line}
    if (item.problem) {
      if (item.problem.code === 'E_EMPTY_INPUT') break
      any = true
      yield rejectOf(location, item.problem)
      continue
    }
    if (item.text.trim() === '') continue
    any = true
    yield* processText(item.text, location, resolver)
  }
  if (!any) yield rejectOf({file}, {code: 'E_EMPTY_INPUT', message: 'The input is empty.'})
}

function* readJsonBytes(file: string, bytes: Buffer, resolver: ReferenceResolver): Generator<InputItem> {
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    yield rejectOf(
      {file},
      looksBinaryBytes(bytes)
        ? {code: 'E_BINARY_INPUT', message: 'The file is binary data, not JSON text.'}
        : {code: 'E_INVALID_UTF8', message: 'The file is not valid UTF-8 text.'},
    )
    return
  }
  if (text.trim() === '') {
    yield rejectOf({file}, {code: 'E_EMPTY_INPUT', message: 'The input is empty.'})
    return
  }
  yield* processText(text, {file}, resolver)
}

function looksBinaryBytes(bytes: Buffer): boolean {
  const sample = bytes.subarray(0, 4096)
  return sample.includes(0) || sample.filter((b) => b < 9 || (b > 13 && b < 32)).length > sample.length / 20
}

function* readJsonFile(file: string, resolver: ReferenceResolver, maxBytes: number): Generator<InputItem> {
  let bytes: Buffer
  try {
    if (statSync(file).size > maxBytes) {
      yield rejectOf(
        {file},
        {
          code: 'E_FILE_TOO_LARGE',
          message: `The JSON file is larger than ${maxBytes} bytes: split it, or write it as NDJSON (one resource per line).`,
        },
      )
      return
    }
    bytes = readFileSync(file)
  } catch (error) {
    yield rejectOf(
      {file},
      error instanceof RangeError ? {code: 'E_FILE_TOO_LARGE', message: 'The JSON file is too large to read whole.'} : streamProblem(error),
    )
    return
  }
  yield* readJsonBytes(file, bytes, resolver)
}

/**
 * A legacy CSV export, row by row: the header must name each column once; a row with the wrong
 * number of columns, a syntax error, bytes that are not UTF-8, a line over the cap or a value of
 * the wrong kind is rejected with its line, and the rows around it still import.
 */
async function* readCsv(file: string, mapping: CsvMapping, resolver: ReferenceResolver, maxLineBytes: number): AsyncGenerator<InputItem> {
  let header: string[] | undefined
  let rows = 0
  for await (const item of readCsvRecords(file, {maxLineBytes})) {
    if (item.problem) {
      if (item.problem.code === 'E_EMPTY_INPUT') continue
      if (header) rows++
      yield rejectOf({file, ...(item.line === undefined ? {} : {line: item.line})}, item.problem)
      continue
    }
    const location: Location = {file, line: item.line}
    const {record} = item
    if (!header) {
      header = record.map((h) => h.trim())
      const seen = new Set<string>()
      if (header.some((h) => (seen.has(h) ? true : (seen.add(h), false)))) {
        yield rejectOf(location, {
          code: 'E_CSV_DUPLICATE_HEADER',
          message: 'The header names a column twice: which one the mapping means is ambiguous, so the file is not read.',
        })
        return
      }
      if (header.some((h) => h.includes('\uFFFD'))) {
        yield rejectOf(location, {code: 'E_INVALID_UTF8', message: 'The header is not valid UTF-8 text: the file is not read.'})
        return
      }
      continue
    }
    rows++
    if (record.some((cell) => cell.includes('\uFFFD'))) {
      yield rejectOf(location, {code: 'E_INVALID_UTF8', message: 'The row holds U+FFFD, the mark of an earlier bad conversion to UTF-8.'})
      continue
    }
    const row: Record<string, string> = {}
    header.forEach((h, i) => {
      row[h] = record[i] ?? ''
    })
    let resources: FhirResource[]
    try {
      resources = rowToResources(row, mapping)
    } catch (error) {
      yield rejectOf(
        location,
        error instanceof MedctlError
          ? {code: error.code, message: error.message}
          : {code: 'E_CSV_ROW', message: 'The row could not be mapped.'},
      )
      continue
    }
    for (const resource of resources) {
      yield* guarded(location, resource, function* () {
        yield checkResource(resource, location, resolver)
      })
    }
  }
  if (!header || rows === 0) yield rejectOf({file}, {code: 'E_EMPTY_INPUT', message: 'The CSV has no data rows.'})
}

/**
 * Stdin: a whole JSON document (a resource or a Bundle) when it is one, else NDJSON. Buffers up to
 * `maxJsonBytes` to tell; past that it is read as NDJSON, streaming.
 */
async function* readStdin(
  stream: NodeJS.ReadableStream,
  resolver: ReferenceResolver,
  options: {maxLineBytes: number; maxJsonBytes: number},
): AsyncGenerator<InputItem> {
  const iterator = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]()
  const head: Buffer[] = []
  let bytes = 0
  let ended = false
  let failure: unknown
  while (bytes <= options.maxJsonBytes) {
    let next: IteratorResult<Buffer | string>
    try {
      next = await iterator.next()
    } catch (error) {
      failure = error
      ended = true
      break
    }
    if (next.done) {
      ended = true
      break
    }
    const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
    head.push(chunk)
    bytes += chunk.length
  }
  if (ended && !failure) {
    const whole = Buffer.concat(head)
    const start = whole.findIndex((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09 && b !== 0xef && b !== 0xbb && b !== 0xbf)
    if (start !== -1 && whole[start] === 0x7b) {
      let text: string | undefined
      try {
        text = new TextDecoder('utf-8', {fatal: true}).decode(whole)
      } catch {
        text = undefined
      }
      if (text !== undefined) {
        let isWhole = false
        try {
          JSON.parse(text)
          isWhole = true
        } catch {
          isWhole = false
        }
        if (isWhole) {
          yield* readJsonBytes('-', whole, resolver)
          return
        }
      }
    }
  }
  async function* rest(): AsyncGenerator<Buffer | string> {
    yield* head
    if (failure) throw failure
    if (ended) return
    for (;;) {
      const next = await iterator.next()
      if (next.done) return
      yield next.value
    }
  }
  yield* readNdjson('-', splitLines(rest(), {maxLineBytes: options.maxLineBytes}), resolver)
}

/**
 * Every resource (or reject) of the inputs, streaming: NDJSON line by line with bounded memory,
 * JSON files and Bundles whole. Each resource is validated against FHIR R4 and its references
 * resolved (urn:uuid, conditional) to Type/id; whatever fails is yielded as a reject with a code
 * and a location, and reading goes on: no single line, entry, row or archive member stops it.
 */
export async function* readInputs(sources: readonly string[], options: ReadOptions = {}): AsyncGenerator<InputItem> {
  const resolver = options.resolver ?? new ReferenceResolver({localBases: options.localBases})
  if (!options.validator) {
    yield* readAll(sources, options, resolver)
    return
  }
  deferring.add(resolver)
  try {
    // Items carry pending checks here (see checkResource); settle() resolves them in order.
    yield* settle(readAll(sources, options, resolver) as AsyncIterable<ReadItem>, options.validator)
  } finally {
    deferring.delete(resolver)
  }
}

async function* readAll(sources: readonly string[], options: ReadOptions, resolver: ReferenceResolver): AsyncGenerator<InputItem> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  const maxJsonBytes = options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES
  for (const source of expandSources(sources, options)) {
    switch (source.format) {
      case 'skipped':
        yield rejectOf({file: source.path}, source.problem as LineProblem)
        break
      case 'ndjson':
        yield* readNdjson(source.path, fileLines(source.path, {maxLineBytes}), resolver)
        break
      case 'ndjson.gz':
        yield* readNdjson(source.path, fileLines(source.path, {maxLineBytes, gzip: true}), resolver)
        break
      case 'json':
        yield* readJsonFile(source.path, resolver, maxJsonBytes)
        break
      case 'csv':
        yield* readCsv(source.path, options.mapping as CsvMapping, resolver, maxLineBytes)
        break
      case 'stdin':
        yield* readStdin(options.stdin ?? process.stdin, resolver, {maxLineBytes, maxJsonBytes})
        break
    }
  }
}
