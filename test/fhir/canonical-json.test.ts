import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import canonicalize from 'canonicalize'
import {describe, expect, it} from 'vitest'
import {canonicalJson} from '../../src/lib/fhir/canonical-json.js'

// Checked against the canonicalize package (RFC 8785), which import digests used before: a
// resource's digest decides what a re-run counts as a duplicate, so the text must not change.
const samples = join(import.meta.dirname, '..', '..', 'data', 'samples', 'synthea-r4')

function* sampleResources(): Generator<unknown> {
  for (const file of readdirSync(samples)) {
    const text = readFileSync(join(samples, file), 'utf8')
    if (file.endsWith('.ndjson')) for (const line of text.split('\n')) if (line.trim()) yield JSON.parse(line)
    if (file.endsWith('.json')) {
      const parsed = JSON.parse(text) as {entry?: Array<{resource?: unknown}>}
      yield parsed
      for (const entry of parsed.entry ?? []) if (entry.resource) yield entry.resource
    }
  }
}

describe('canonical JSON', () => {
  it('writes every sample resource exactly as the canonicalize package does', () => {
    let count = 0
    for (const resource of sampleResources()) {
      expect(canonicalJson(resource)).toBe(canonicalize(resource))
      count++
    }
    expect(count).toBeGreaterThan(1000)
  })

  it.each([
    ['key order by UTF-16 code units', '{"b":1,"a":2,"é":3,"\\ud83d\\ude00":4,"\\uffff":5,"A":6,"":7}'],
    ['numbers as ECMAScript writes them', '[1e21,1e-7,-0,0.1,123456789012345680000,5e-324,1.7976931348623157e308,-1.5,100]'],
    ['escapes', '["\\u0000\\u001f\\"\\\\/\\b\\f\\n\\r\\t","\\u2028\\u2029","é😀","\\u007f\\u0080\\ufeff","plain text"]'],
    ['nesting and empties', '{"a":{},"b":[],"c":[{}],"d":[[null,true,false]],"e":{"z":{"y":{"x":"w"}}}}'],
  ])('%s', (_name, json) => {
    const value: unknown = JSON.parse(json)
    expect(canonicalJson(value)).toBe(canonicalize(value))
  })

  it('refuses a lone surrogate in a string or a key, as canonicalize does', () => {
    for (const json of ['"\\ud800"', '"a\\udc00"', '{"\\ud800":1}', '["ok","\\udbff x"]']) {
      const value: unknown = JSON.parse(json)
      expect(() => canonicalize(value)).toThrow()
      expect(() => canonicalJson(value)).toThrow(/Lone surrogate/)
    }
    expect(canonicalJson(JSON.parse('"\\ud83d\\ude00"'))).toBe(canonicalize(JSON.parse('"\\ud83d\\ude00"')))
  })
})
