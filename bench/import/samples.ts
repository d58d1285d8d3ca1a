/**
 * The bundled Synthea samples (`data/samples/synthea-r4`: 6 patients' Bundles plus the hospital and
 * practitioner Bundles) as FHIR Bulk Data NDJSON, repeated `copies` times: copy k gives every
 * patient resource the id `<id>-k`, every Patient identifier the value `<value>-k` (so each copy is
 * a new set of patients) and turns `urn:uuid:` references into `Type/<id>-k`. The reference data
 * (organisations, practitioners, locations) is written once. One file per resource type.
 *
 *   node --import tsx bench/import/samples.ts --copies 10 --out bench/out/samples-10
 */
import {createWriteStream, mkdirSync, readFileSync, readdirSync, type WriteStream} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

interface Resource {
  resourceType: string
  id?: string
  [key: string]: unknown
}
interface Bundle {
  entry?: Array<{fullUrl?: string; resource: Resource}>
}

export const SAMPLES_DIR = join(import.meta.dirname, '..', '..', 'data', 'samples', 'synthea-r4')

function rewrite(node: unknown, references: Map<string, string>): void {
  if (Array.isArray(node)) {
    for (const item of node) rewrite(item, references)
    return
  }
  if (!node || typeof node !== 'object') return
  const record = node as Record<string, unknown>
  for (const [key, value] of Object.entries(record)) {
    if (key === 'reference' && typeof value === 'string') record[key] = references.get(value) ?? value
    else if (typeof value === 'object') rewrite(value, references)
  }
}

export async function samplesNdjson(options: {copies: number; out: string}): Promise<{files: string[]; resources: number; bytes: number}> {
  mkdirSync(options.out, {recursive: true})
  const streams = new Map<string, WriteStream>()
  let resources = 0
  let bytes = 0
  const write = (resource: Resource): void => {
    let stream = streams.get(resource.resourceType)
    if (!stream) {
      stream = createWriteStream(join(options.out, `${resource.resourceType}.ndjson`))
      streams.set(resource.resourceType, stream)
    }
    const line = `${JSON.stringify(resource)}\n`
    stream.write(line)
    resources++
    bytes += Buffer.byteLength(line)
  }
  const bundles = readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({name: f, text: readFileSync(join(SAMPLES_DIR, f), 'utf8')}))
  for (const {text} of bundles) {
    const bundle = JSON.parse(text) as Bundle
    if (bundle.entry?.some((e) => e.resource.resourceType === 'Patient')) continue
    for (const entry of bundle.entry ?? []) write(entry.resource)
  }
  for (let copy = 1; copy <= options.copies; copy++) {
    for (const {text} of bundles) {
      const bundle = JSON.parse(text) as Bundle
      if (!bundle.entry?.some((e) => e.resource.resourceType === 'Patient')) continue
      const references = new Map<string, string>()
      for (const entry of bundle.entry) {
        const id = `${entry.resource.id ?? entry.fullUrl?.replace(/^urn:uuid:/, '')}-${copy}`
        if (entry.fullUrl) references.set(entry.fullUrl, `${entry.resource.resourceType}/${id}`)
        entry.resource.id = id
      }
      for (const entry of bundle.entry) {
        const resource = entry.resource
        rewrite(resource, references)
        if (resource.resourceType === 'Patient' && Array.isArray(resource.identifier)) {
          for (const identifier of resource.identifier as Array<{value?: string}>)
            if (identifier.value) identifier.value = `${identifier.value}-${copy}`
        }
        write(resource)
      }
    }
    // Let the streams drain between copies (bounded memory for large counts).
    await Promise.all(
      [...streams.values()].map((s) =>
        s.writableNeedDrain ? new Promise<void>((resolve) => s.once('drain', () => resolve())) : undefined,
      ),
    )
  }
  await Promise.all(
    [...streams.values()].map(
      (s) => new Promise<void>((resolve, reject) => s.end((error?: Error | null) => (error ? reject(error) : resolve()))),
    ),
  )
  return {files: [...streams.keys()].sort().map((type) => join(options.out, `${type}.ndjson`)), resources, bytes}
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const {values} = parseArgs({options: {copies: {type: 'string', default: '10'}, out: {type: 'string', default: 'bench/out/samples'}}})
  const result = await samplesNdjson({copies: Number(values.copies), out: values.out as string})
  console.log(
    `wrote ${result.resources} resources, ${(result.bytes / 1e6).toFixed(1)} MB in ${result.files.length} files under ${values.out}`,
  )
}
