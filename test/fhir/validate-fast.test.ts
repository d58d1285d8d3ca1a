import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {beforeAll, describe, expect, it} from 'vitest'
import {shapeProblem} from '../../src/lib/fhir/json.js'
import type {FhirResource} from '../../src/lib/fhir/types.js'
import {compileValidators, fastAccepts} from '../../src/lib/fhir/validate-fast.js'
import {
  checkTypeAndId,
  loadDefinitions,
  validateFhir,
  validateFhirWithMedplum,
  type ValidationProblem,
} from '../../src/lib/fhir/validate.js'

/**
 * The differential test of the compiled validator (issue 16): over every bundled sample resource,
 * every resource in the test fixtures and a few thousand deterministic mutations of the samples,
 * validateFhir (compiled fast path, Medplum for the rest) gives exactly what Medplum's validator
 * alone gives: the same verdict, code and message. Fails if the fast path accepts anything
 * Medplum rejects.
 */

const ROOT = join(import.meta.dirname, '..', '..')
const SAMPLES = join(ROOT, 'data', 'samples', 'synthea-r4')
const FIXTURES = join(ROOT, 'test', 'fixtures')

type Json = null | boolean | number | string | Json[] | {[key: string]: Json}
type JsonObject = {[key: string]: Json}

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)

function sampleResources(): JsonObject[] {
  const out: JsonObject[] = []
  for (const file of readdirSync(SAMPLES)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const bundle = JSON.parse(readFileSync(join(SAMPLES, file), 'utf8')) as {entry?: Array<{resource: JsonObject}>}
    for (const entry of bundle.entry ?? []) out.push(entry.resource)
  }
  return out
}

/** Every object with a string resourceType in a parsed fixture (bundle entries, contained and nested ones included). */
function collectResources(value: unknown, out: JsonObject[]): void {
  if (Array.isArray(value)) for (const item of value) collectResources(item, out)
  else if (isObject(value)) {
    if (typeof value.resourceType === 'string') out.push(value)
    for (const item of Object.values(value)) collectResources(item, out)
  }
}

function fixtureResources(): JsonObject[] {
  const out: JsonObject[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (/\.(ndjson|json)$/.test(name)) {
        const text = readFileSync(path, 'utf8')
        const texts = name.endsWith('.ndjson') ? text.split(/\r?\n/) : [text]
        for (const t of texts) {
          let parsed: unknown
          try {
            parsed = JSON.parse(t.replace(/^\uFEFF/, ''))
          } catch {
            continue
          }
          // What the reader screens out before validating (too deep, lone surrogates) never reaches the validator.
          if (shapeProblem(parsed)) continue
          collectResources(parsed, out)
        }
      }
    }
  }
  walk(FIXTURES)
  return out
}

/** mulberry32: a small seeded generator, so the mutations are the same on every run. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Slot {
  parent: JsonObject | Json[]
  key: string | number
}

/** Every place in a resource (object properties and array items), depth first. */
function slots(value: Json, out: Slot[] = []): Slot[] {
  if (Array.isArray(value))
    value.forEach((item, i) => {
      out.push({parent: value, key: i})
      slots(item, out)
    })
  else if (isObject(value))
    for (const [key, item] of Object.entries(value)) {
      out.push({parent: value, key})
      slots(item, out)
    }
  return out
}

function objects(value: Json, out: JsonObject[] = []): JsonObject[] {
  if (Array.isArray(value)) for (const item of value) objects(item, out)
  else if (isObject(value)) {
    out.push(value)
    for (const item of Object.values(value)) objects(item, out)
  }
  return out
}

const get = (slot: Slot): Json => (slot.parent as Record<string | number, Json>)[slot.key] as Json
function set(slot: Slot, value: Json): void {
  ;(slot.parent as Record<string | number, Json>)[slot.key] = value
}
function remove(slot: Slot): void {
  if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1)
  else delete slot.parent[slot.key as string]
}

const BAD_STRINGS = [
  '',
  ' ',
  '\t',
  'two  spaces',
  ' leading',
  'trailing ',
  'tab\tinside',
  'not a date',
  '2020-13-01',
  '2020-02-30',
  '2020-01-01T10:00',
  '2020-01-01T25:00:00Z',
  '2020-01-01T10:00:00',
  '2020-01-01T10:00:00.1234567890Z',
  '20200101',
  '0000',
  'x'.repeat(65),
  'a\u0001b',
  '\u007f',
  'urn:uuid:NOT-A-UUID',
  'urn:oid:1.2.3',
  'urn:oid:9.9',
  'has space',
  '12:00',
  '24:00:00',
  'dGVzdA==',
  'dGVzdA=',
  '-1',
  'true',
  '😀',
  'é',
  '<div xmlns="http://www.w3.org/1999/xhtml">x</div>',
  '<script>alert(1)</script>',
  'Patient/',
  '#missing',
  'home',
]
const BAD_VALUES: Json[] = [0, -1, 1.5, 2 ** 53, -0.5, true, false, null, [], {}, [null], [''], [[]], {foo: 'bar'}, {extension: []}, 'x']

const CHOICE_SUFFIXES = ['String', 'Boolean', 'Integer', 'Decimal', 'DateTime', 'Period', 'Quantity', 'CodeableConcept', 'Reference', 'Foo']

/** One mutation of a deep copy of `resource`; every kind the brief lists, picked by `rand`. */
function mutate(resource: JsonObject, rand: () => number, samples: JsonObject[]): JsonObject {
  const copy = structuredClone(resource)
  const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)] as T
  const all = slots(copy)
  const objs = objects(copy)
  const kind = Math.floor(rand() * 22)
  const slot = all.length > 0 ? pick(all) : undefined
  const object = pick(objs)
  switch (kind) {
    case 0: // drop an element (required ones among them)
    case 1:
      if (slot) remove(slot)
      break
    case 2: // wrong JSON type or an empty/null value
    case 3:
      if (slot) set(slot, structuredClone(pick(BAD_VALUES)))
      break
    case 4: // bad formats: dates, codes, ids, uris, blank strings...
    case 5:
    case 6: {
      const strings = all.filter((s) => typeof get(s) === 'string')
      if (strings.length > 0) set(pick(strings), pick(BAD_STRINGS))
      break
    }
    case 7: {
      // numbers: negative, fractional, zero
      const numbers = all.filter((s) => typeof get(s) === 'number')
      // Infinity is what JSON.parse gives for 1e400.
      if (numbers.length > 0) set(pick(numbers), pick([0, -1, 1.5, -2.25, 1e21, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]))
      else if (slot) set(slot, pick([0, -1, 1.5]))
      break
    }
    case 8: // unknown property, possibly nested, possibly shaped like a choice or a primitive's extension
      object[pick(['foo', 'valueFoo', '_foo', 'resourceType', 'Extension', 'length', 'fhir_comments', '_id'])] = pick(['x', 1, {url: 'u'}])
      break
    case 9: {
      // wrong choice type: rename valueQuantity to valueString (or other), keeping the value
      const choices = objs.flatMap((o) =>
        Object.keys(o)
          .filter((k) => /^[a-z]+[A-Z]/.test(k) && !k.startsWith('_'))
          .map((k) => [o, k] as const),
      )
      if (choices.length > 0) {
        const [o, key] = pick(choices)
        const stem = key.replace(/[A-Z].*$/, '')
        const value = o[key] as Json
        delete o[key]
        o[stem + pick(CHOICE_SUFFIXES)] = value
      }
      break
    }
    case 10: {
      // duplicate choice types
      const choices = objs.flatMap((o) =>
        Object.keys(o)
          .filter((k) => /^(value|effective|onset|deceased|multipleBirth|abatement|occurrence)[A-Z]/.test(k))
          .map((k) => [o, k] as const),
      )
      if (choices.length > 0) {
        const [o, key] = pick(choices)
        const stem = key.replace(/[A-Z].*$/, '')
        o[stem + pick(['String', 'Boolean', 'DateTime', 'Integer'])] = pick(['x', true, '2020-01-01', 3])
      } else copy.valueString = 'x'
      break
    }
    case 11: {
      // extensions: without url, with both value and extension, with neither, nested
      const extension = pick<JsonObject>([
        {valueString: 'x'},
        {url: 'http://example.org/x'},
        {url: 'http://example.org/x', valueString: 'x', extension: [{url: 'y', valueBoolean: true}]},
        {url: 'http://example.org/x', extension: [{url: 'y'}]},
        {url: 'http://example.org/x', extension: [{url: 'y', valueCode: 'a'}]},
        {url: 'http://example.org/x', valueCode: 'a b'},
        {url: '', valueString: 'x'},
        {url: 'http://example.org/x', valueString: 'x', valueBoolean: true},
        {url: 'http://example.org/x', _valueString: {extension: [{url: 'z', valueString: 'q'}]}},
        {url: 'http://example.org/x', valueReference: {reference: '#nowhere'}},
      ])
      const target = pick(objs)
      const list = Array.isArray(target.extension) ? target.extension : (target.extension = [])
      list.push(structuredClone(extension))
      break
    }
    case 12: {
      // contained resources: nested contained, meta.versionId / security, a plain one
      const inner = structuredClone(pick(samples.filter((s) => s.resourceType !== 'Bundle')))
      delete inner.contained
      const variant = Math.floor(rand() * 4)
      if (variant === 1) inner.contained = [{resourceType: 'Basic', id: 'b', code: {text: 'x'}}]
      if (variant === 2) inner.meta = {versionId: '1'}
      if (variant === 3) inner.meta = {security: [{code: 'R'}]}
      copy.contained = [...(Array.isArray(copy.contained) ? copy.contained : []), inner]
      break
    }
    case 13: // invariants of Observation, Condition, Patient, Timing, CarePlan, Goal...
    case 14: {
      const changes: Array<() => void> = [
        () => (copy.dataAbsentReason = {text: 'unknown'}),
        () => (copy.component = [{code: copy.code ?? {text: 'x'}, valueString: 'y'}]),
        () => (copy.abatementDateTime = '2020-01-01'),
        () => (copy.clinicalStatus = {coding: [{system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active'}]}),
        () => delete copy.clinicalStatus,
        () =>
          (copy.verificationStatus = {
            coding: [{system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error'}],
          }),
        () => (copy.contact = [{gender: 'male'}]),
        () => (copy.contact = [{name: {family: 'x'}}]),
        () => {
          const repeats = objects(copy).filter((o) => isObject(o.repeat))
          if (repeats.length > 0) {
            const repeat = pick(repeats).repeat as JsonObject
            const change = Math.floor(rand() * 6)
            if (change === 0) repeat.duration = 5
            if (change === 1) delete repeat.periodUnit
            if (change === 2) repeat.period = -1
            if (change === 3) repeat.countMax = 2
            if (change === 4) repeat.offset = 10
            if (change === 5) repeat.timeOfDay = ['10:00:00']
          }
        },
        () => {
          const activities = objects(copy).filter((o) => Array.isArray(o.activity))
          if (activities.length > 0)
            (pick(activities).activity as Json[]).push({reference: {reference: 'x'}, detail: {status: 'completed'}})
        },
        () => (copy.target = [{detailString: 'x'}]),
        () => (copy.telecom = [{system: 'phone', value: '1', use: 'home'}]),
        () => (copy.address = [{use: 'home', city: 'x'}]),
        () => (copy.participant = [{member: {reference: 'Patient/x'}, onBehalfOf: {reference: 'Organization/y'}}]),
        () => (copy.text = {status: 'generated', div: '<p>not xhtml</p>'}),
        () => (copy.text = {status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>'}),
        () => (copy.period = {start: '2020-02-01', end: '2020-01-01'}),
        () => (copy.subject = {reference: '#nowhere'}),
      ]
      pick(changes)()
      break
    }
    case 15: {
      // primitive extensions: beside a value, alone, misaligned arrays, nulls
      const variants: Array<() => void> = [
        () => (copy._id = {extension: [{url: 'x', valueString: 'y'}]}),
        () => (copy._status = {extension: [{url: 'x', valueString: 'y'}]}),
        () => (copy._status = {id: 'a'}),
        () => (copy._status = {}),
        () => (copy._status = [{id: 'a'}]),
        () => (copy._subject = {id: 'a'}),
        () => {
          const named = objects(copy).filter((o) => Array.isArray(o.given))
          if (named.length > 0) {
            const o = pick(named)
            o._given = pick<Json>([[null], [{id: 'x'}], [null, {id: 'y'}], [], {id: 'z'}])
          }
        },
        () => {
          const named = objects(copy).filter((o) => Array.isArray(o.given))
          if (named.length > 0) pick(named).given = pick<Json>([[null], ['a', null], [''], ['a', 'a'], []])
        },
      ]
      pick(variants)()
      break
    }
    case 16: // empty string / array / object / null at a random place
      if (slot) set(slot, pick<Json>(['', [], {}, null, ' ']))
      break
    case 17: // an element of a nested object deleted (required ones in backbone elements)
    case 18: {
      const nested = all.filter((s) => !Array.isArray(s.parent) && s.parent !== copy)
      if (nested.length > 0) remove(pick(nested))
      break
    }
    case 19: // the id and resource-level strings
      copy.id = pick(['a', 'x'.repeat(64), 'x'.repeat(65), 'has space', '', 'ok-id.1', '_bad'])
      break
    case 20: // an array element where one value goes, and a single value where an array goes
      if (slot) {
        const v = get(slot)
        set(slot, Array.isArray(v) ? (v[0] ?? null) : [v])
      }
      break
    default: // two mutations
      return mutate(mutate(resource, rand, samples), rand, samples)
  }
  return copy
}

/** Hand-written edge cases: limits and JSON.parse quirks the random mutations do not reach. */
function edgeCases(): JsonObject[] {
  const MiB = 1024 * 1024
  const patient = (extra: JsonObject): JsonObject => ({resourceType: 'Patient', id: 'edge', ...extra})
  return [
    patient({name: [{text: 'x'.repeat(MiB)}]}),
    patient({name: [{text: 'x'.repeat(MiB + 1)}]}),
    patient({multipleBirthInteger: Number.POSITIVE_INFINITY}),
    patient({multipleBirthInteger: 2 ** 53 + 2}),
    patient({multipleBirthInteger: -0}),
    JSON.parse('{"resourceType":"Patient","__proto__":{"gender":"male"}}') as JsonObject,
    JSON.parse('{"resourceType":"Patient","gender":"male","gender":"x y"}') as JsonObject,
    patient({name: [{given: ['a', null], _given: [null, {extension: [{url: 'u', valueString: 'v'}]}]}]}),
    patient({name: [{given: ['a', 'b'], _given: [null, {id: 'x'}]}]}),
    patient({birthDate: '2000-01-01', _birthDate: {extension: [{url: 'u', valueDateTime: '2000-01-01T10:00:00Z'}]}}),
    patient({_birthDate: {extension: [{url: 'u', valueString: 'v'}]}}),
    patient({text: {status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}}),
    patient({contained: [{resourceType: 'Organization', id: 'o', name: 'x'}], managingOrganization: {reference: '#o'}}),
    patient({contained: [{resourceType: 'Organization', id: 'o', contained: [{resourceType: 'Basic', id: 'b', code: {text: 'x'}}]}]}),
    patient({contained: [{resourceType: 'NotAType', id: 'o'}]}),
    patient({contained: [{id: 'o'}]}),
    patient({contact: [{organization: {reference: 'Organization/1'}}]}),
    patient({contact: [{}]}),
    patient({extension: [{url: 'u', valueString: 'x', valueBoolean: true}]}),
    patient({extension: [{url: 'u', valueReference: {reference: 'Patient/1'}, extension: [{url: 'v', valueString: 'x'}]}]}),
    patient({deceasedBoolean: false, deceasedDateTime: '2020'}),
    patient({deceasedString: 'x'}),
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, valueQuantity: {value: 1, comparator: '<'}},
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, valueSampledData: {origin: {value: 0}, period: 1, dimensions: 0}},
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, valueSampledData: {origin: {value: 0}, period: 1, dimensions: 1}},
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, valueAttachment: {data: 'not base64!'}},
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, effectiveInstant: '2020-01-01T00:00:00Z'},
    {resourceType: 'Observation', status: 'final', code: {text: 'x'}, effectiveInstant: '2020-01-01'},
    {resourceType: 'Bundle', type: 'collection', entry: [{resource: {resourceType: 'Patient', id: 'p'}}, {fullUrl: 'urn:uuid:1'}]},
    {resourceType: 'Bundle', type: 'collection', entry: [{fullUrl: 'http://x/Patient/1/_history/2', resource: {resourceType: 'Patient'}}]},
    {resourceType: 'Bundle', type: 'collection', entry: [{resource: {resourceType: 'Patient', id: 'p', gender: 'x y'}}]},
    {resourceType: 'Binary', contentType: 'text/plain', data: 'dGVzdA=='},
    {resourceType: 'Binary', contentType: 'text/plain', data: 'dGVzdA'},
    {resourceType: 'Basic', code: {text: 'x'}, created: '2020-02-30'},
    {resourceType: 'Questionnaire', status: 'draft', item: [{linkId: '1', type: 'group'}]},
    {resourceType: 'Questionnaire', status: 'draft', item: [{linkId: '1', type: 'display', required: true}]},
    {resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: {reference: 'Patient/1'}},
    {
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: {reference: 'Patient/1'},
      medicationCodeableConcept: {text: 'x'},
    },
  ]
}

const MUTATIONS = Number(process.env.MUTATIONS ?? 4000)

let corpus: Array<{origin: string; resource: JsonObject}>

beforeAll(() => {
  loadDefinitions()
  const samples = sampleResources()
  const fixtures = fixtureResources()
  const rand = random(Number(process.env.SEED ?? 16))
  const mutants: JsonObject[] = []
  for (let i = 0; i < MUTATIONS; i++) mutants.push(mutate(samples[Math.floor(rand() * samples.length)] as JsonObject, rand, samples))
  corpus = [
    ...samples.map((resource) => ({origin: 'sample', resource})),
    ...fixtures.map((resource) => ({origin: 'fixture', resource})),
    ...edgeCases().map((resource, i) => ({origin: `edge case ${i}`, resource})),
    ...mutants.map((resource, i) => ({origin: `mutation ${i}`, resource})),
  ]
}, 300_000)

const describeProblem = (p: ValidationProblem | undefined): string => (p ? `${p.code}: ${p.message}` : 'accepted')

describe('compiled FHIR validation (validate-fast.ts) against Medplum alone', () => {
  it('gives the same verdict, code and message as Medplum for every resource of the corpus', () => {
    const differences: string[] = []
    const fastButRejected: string[] = []
    let fast = 0
    let rejected = 0
    const codes = new Map<string, number>()
    for (const {origin, resource} of corpus) {
      const r = resource as unknown as FhirResource
      const before = validateFhirWithMedplum(r)
      const after = validateFhir(r)
      if (before) {
        rejected++
        codes.set(before.code, (codes.get(before.code) ?? 0) + 1)
      }
      const accepted = !checkTypeAndId(r) && fastAccepts(r)
      if (accepted) fast++
      if (accepted && before)
        fastButRejected.push(`${origin} (${String(r.resourceType)}): fast path accepted, Medplum: ${describeProblem(before)}`)
      if (describeProblem(before) !== describeProblem(after))
        differences.push(`${origin} (${String(r.resourceType)}): Medplum ${describeProblem(before)}; now ${describeProblem(after)}`)
    }
    console.log(
      `differential corpus: ${corpus.length} resources (${corpus.filter((c) => c.origin === 'sample').length} samples, ` +
        `${corpus.filter((c) => c.origin === 'fixture').length} from fixtures, ` +
        `${corpus.filter((c) => c.origin.startsWith('edge case')).length} edge cases, ${MUTATIONS} mutations); ` +
        `${rejected} rejected by Medplum, ${fast} accepted by the fast path; codes ${JSON.stringify(Object.fromEntries(codes))}`,
    )
    expect(fastButRejected.slice(0, 10)).toEqual([])
    expect(differences.slice(0, 10)).toEqual([])
    // The corpus has teeth: many rejections of several kinds, and the fast path does most of the accepting.
    expect(rejected).toBeGreaterThan(1000)
    for (const code of ['E_INVALID_ID', 'E_MISSING_REQUIRED', 'E_INVALID_PRIMITIVE', 'E_UNKNOWN_ELEMENT', 'E_INVALID_RESOURCE'])
      expect(codes.get(code) ?? 0, code).toBeGreaterThan(10)
    expect(fast).toBeGreaterThan((corpus.length - rejected) * 0.6)
  })

  it('accepts every bundled sample resource on the fast path', () => {
    const samples = corpus.filter((c) => c.origin === 'sample')
    expect(samples.length).toBeGreaterThan(1800)
    const slow = samples
      .filter((c) => !fastAccepts(c.resource as unknown as FhirResource))
      .map((c) => `${String(c.resource.resourceType)}/${String(c.resource.id)}`)
    expect(slow).toEqual([])
  })

  it('the validators npm run build generates decide as the ones compiled from the sources', () => {
    const generated = join(ROOT, 'dist', 'lib', 'fhir', 'fhir-validators.cjs')
    if (!existsSync(generated)) return // no build ran (the global setup builds unless told not to)
    const built = createRequire(import.meta.url)(generated) as Record<string, (data: unknown) => boolean>
    const compiled = compileValidators()
    const differing: string[] = []
    for (const {origin, resource} of corpus) {
      const type = resource.resourceType
      if (typeof type !== 'string' || !compiled[type]) continue
      if (Boolean(built[type]?.(resource)) !== Boolean(compiled[type]?.(resource))) differing.push(`${origin} (${type})`)
    }
    expect(differing.slice(0, 10)).toEqual([])
  })

  it('the built CLI, indexing only the resource definitions each input needs, decides every resource as Medplum with all of them', () => {
    const built = join(ROOT, 'dist', 'lib', 'fhir', 'validate.js')
    if (!existsSync(join(ROOT, 'dist', 'lib', 'fhir', 'r4-definitions', '_base.json'))) return // no build ran
    const work = mkdtempSync(join(tmpdir(), 'medctl-split-defs-'))
    try {
      // A fresh process: Medplum's index starts empty there, and fills type by type as the corpus needs.
      const input = join(work, 'corpus.ndjson')
      // JSON has no Infinity (the corpus holds some, as JSON.parse of 1e400 gives): carried as a marker.
      const NONFINITE = 'medctl-test-nonfinite:'
      const replacer = (_key: string, value: unknown) =>
        typeof value === 'number' && !Number.isFinite(value) ? `${NONFINITE}${value}` : value
      const reviver = (_key: string, value: unknown) =>
        typeof value === 'string' && value.startsWith(NONFINITE) ? Number(value.slice(NONFINITE.length)) : value
      const lines = corpus.map((c) => JSON.stringify(c.resource, replacer))
      writeFileSync(input, lines.join('\n'))
      const script = `
        import {readFileSync} from 'node:fs'
        const {validateFhir} = await import(${JSON.stringify(pathToFileURL(built).href)})
        const out = []
        for (const line of readFileSync(${JSON.stringify(input)}, 'utf8').split('\\n')) {
          const p = validateFhir(JSON.parse(line, (k, v) => typeof v === 'string' && v.startsWith('${NONFINITE}') ? Number(v.slice(${NONFINITE.length})) : v))
          out.push(p ? p.code + ': ' + p.message : 'accepted')
        }
        process.stdout.write(JSON.stringify(out))`
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8', maxBuffer: 256 * 1024 * 1024})
      expect(run.status, run.stderr).toBe(0)
      const answers = JSON.parse(run.stdout) as string[]
      expect(answers).toHaveLength(corpus.length)
      const differing = corpus
        // Both sides see the resource as parsed from its line, as an import does (a mutation may share
        // one object between two elements, which Medplum's FHIRPath intersect tells from two equal copies).
        .map((c, i) => {
          const parsed = JSON.parse(lines[i] as string, reviver) as FhirResource
          return {c, expected: describeProblem(validateFhirWithMedplum(parsed)), got: answers[i]}
        })
        .filter((d) => d.expected !== d.got)
        .map((d) => `${d.c.origin} (${String(d.c.resource.resourceType)}): Medplum ${d.expected}; built ${d.got}`)
      expect(differing.slice(0, 10)).toEqual([])
    } finally {
      rmSync(work, {recursive: true, force: true})
    }
  }, 300_000)
})
