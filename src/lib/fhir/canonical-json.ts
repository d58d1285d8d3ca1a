/**
 * RFC 8785 (JCS) canonical JSON of a value read by JSON.parse: keys sorted by UTF-16 code units,
 * strings and numbers as ECMAScript's JSON.stringify writes them. It gives the same text as the
 * `canonicalize` package (the tests compare the two), without its per-value bookkeeping (a set of
 * seen objects, a character loop over every string), because an import digests every resource.
 * Like that package, it refuses a lone surrogate and a non-finite number. Plain data only: no
 * toJSON, no cycles (JSON.parse makes neither).
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return canonicalString(value)
    case 'number':
      if (!Number.isFinite(value)) throw new Error(Number.isNaN(value) ? 'NaN is not allowed' : 'Infinity is not allowed')
      return String(value) // the same text as JSON.stringify for a finite number
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ','
          const item: unknown = value[i]
          out += item === undefined ? 'null' : canonicalJson(item)
        }
        return `${out}]`
      }
      const record = value as Record<string, unknown>
      const keys = Object.keys(record).sort()
      let out = '{'
      let first = true
      for (const key of keys) {
        const item = record[key]
        if (item === undefined) continue
        out += `${first ? '' : ','}${canonicalString(key)}:${canonicalJson(item)}`
        first = false
      }
      return `${out}}`
    }
    default:
      throw new Error(`A ${typeof value} is not JSON.`)
  }
}

/** What JSON.stringify would escape (a quote, a backslash, a control character) or check (a surrogate). */
const SPECIAL = /["\\\u0000-\u001F\uD800-\uDFFF]/
const SURROGATE = /[\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function canonicalString(value: string): string {
  if (!SPECIAL.test(value)) return `"${value}"`
  if (SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw new Error('Lone surrogate is not allowed')
  return JSON.stringify(value)
}
