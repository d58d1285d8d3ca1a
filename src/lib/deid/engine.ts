import type {ResourceNode} from 'fhirpath'

import {ExitCode, MedctlError} from '../core/errors.js'
import {
  allNodes,
  containerOf,
  evaluateValue,
  isComplex,
  isResourceNode,
  nodeId,
  nodeType,
  realKey,
  setCurrentDescendants,
  setStandardSystems,
} from './fhirpath.js'
import {cryptoHash, dateShiftDays, encryptValue, noiseUnit, pseudonymId, pseudonymUuid, type ExportKeys} from './keys.js'
import {repairRequired} from './repair.js'
import type {CompiledRule, LoadedRules} from './rules.js'

/** A FHIR R4 resource as parsed JSON. */
export interface FhirResource {
  resourceType: string
  id?: string
  [key: string]: unknown
}

export interface EngineOptions {
  rules: LoadedRules
  keys: ExportKeys
  /** `YYYY-MM-DD`: the date ages are computed at (the pinned block's date, for determinism). */
  referenceDate: string
  /** Source id -> resource type of every resource in the export (resolves `urn:uuid:` references). */
  idTypes: ReadonlyMap<string, string>
}

export interface ResourceScope {
  /** Stable source key of the patient the resource belongs to (date-shift scope `patient`). */
  patientKey: string
}

/** Value types treated as free text: dropped unless a rule matched them (or an ancestor). */
const FREE_TEXT_TYPES = new Set(['string', 'markdown', 'xhtml', 'base64Binary'])
const DATE_TYPES = new Set(['date', 'dateTime'])
const REMOVED: unique symbol = Symbol('removed')

type Op = {container: Record<string, unknown>; key: string; index: number | undefined; value: unknown}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function location(n: ResourceNode): string {
  const parts: string[] = []
  for (let x: ResourceNode | null = n; x && x.parentResNode; x = x.parentResNode) {
    parts.push(`${x.propName ?? ''}${x.index == null ? '' : `[${x.index}]`}`)
  }
  return parts.reverse().join('.')
}

// ---- partial redaction (Safe Harbor) ---------------------------------------------------------

function refYear(referenceDate: string): number {
  return Number(referenceDate.slice(0, 4))
}

/** Year of a date that may be kept: undefined when the year itself would reveal an age over 89. */
export function partialDate(value: string, referenceDate: string): string | undefined {
  const m = /^(\d{4})/.exec(value)
  if (!m) return undefined
  if (Number(m[1]) <= refYear(referenceDate) - 90) return undefined
  return m[1]
}

export function partialZip(value: string, restricted: readonly string[]): string | undefined {
  const m = /^\s*(\d{3})\d{2}(?:-?\d{4})?\s*$/.exec(value)
  if (!m) return undefined
  return restricted.includes(m[1]) ? '000' : m[1]
}

const AGE_UNITS_IN_YEARS: Record<string, number> = {a: 1, mo: 1 / 12, wk: 7 / 365.25, d: 1 / 365.25, h: 1 / 8766, min: 1 / 525960}

function ageInYears(age: Record<string, unknown>): number | undefined {
  if (typeof age.value !== 'number') return undefined
  const unit = typeof age.code === 'string' ? age.code : typeof age.unit === 'string' ? age.unit : 'a'
  const factor = AGE_UNITS_IN_YEARS[unit] ?? (/^y(ea)?rs?$/i.test(unit) ? 1 : undefined)
  return factor === undefined ? undefined : age.value * factor
}

function shiftDate(value: string, days: number): string {
  // YYYY stays; YYYY-MM shifts its first day and keeps month precision; full dates keep time and zone.
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(.*))?)?$/.exec(value)
  if (!m || m[2] === undefined) return value
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] === undefined ? 1 : Number(m[3])))
  d.setUTCDate(d.getUTCDate() + days)
  const ymd = d.toISOString().slice(0, 10)
  if (m[3] === undefined) return ymd.slice(0, 7)
  return ymd + (m[4] ?? '')
}

// ---- the engine ------------------------------------------------------------------------------

interface Match {
  rule: CompiledRule
  node: ResourceNode
}

export function rewriteReference(ref: string, opts: Pick<EngineOptions, 'keys' | 'idTypes'>): string {
  if (ref.startsWith('#')) return ref
  if (ref.startsWith('urn:uuid:')) {
    const id = ref.slice('urn:uuid:'.length)
    const type = opts.idTypes.get(id)
    return type ? `${type}/${pseudonymId(opts.keys, id)}` : `urn:uuid:${pseudonymUuid(opts.keys, id)}`
  }
  const conditional = /^([A-Z][A-Za-z]+)\?/.exec(ref)
  if (conditional) return `${conditional[1]}/${pseudonymId(opts.keys, `?${ref}`)}`
  const literal = /^(?:.*\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})(?:\/_history\/[^/]*)?$/.exec(ref)
  if (literal) return `${literal[1]}/${pseudonymId(opts.keys, literal[2])}`
  return `urn:uuid:${pseudonymUuid(opts.keys, ref)}`
}

function ruleError(rule: CompiledRule, resourceType: string, error: unknown): MedctlError {
  return new MedctlError('E_DEID_RULE', `rule ${rule.index} (${rule.path}) failed on a ${resourceType}: ${(error as Error).message}`, {
    exitCode: ExitCode.FAILURE,
    cause: error,
    details: {rule: rule.index, resourceType},
  })
}

/**
 * De-identifies one resource (a deep copy; the input is not modified). Returns undefined when the
 * rule file says `processingErrors: "skip"` and a rule failed on it (the resource is left out).
 *
 * Semantics: every rule is evaluated against the source resource (and against each contained
 * resource); a node is governed by the first rule, in file order, that selected it or one of its
 * ancestors. Ids and references are always replaced with per-export pseudonyms (unless a rule
 * removed them); values no rule selected are kept, except free text, which is dropped.
 */
export function deidentifyResource(source: FhirResource, opts: EngineOptions, scope: ResourceScope): FhirResource | undefined {
  const res = structuredClone(source)
  const {rules, keys, referenceDate} = opts
  const p = rules.parameters
  const nodes = allNodes(res)
  const matches = new Map<string, Match>()
  const targets: Record<string, unknown>[] = [res]
  if (Array.isArray(res.contained)) for (const c of res.contained) if (isObject(c)) targets.push(c)

  setCurrentDescendants(res, nodes)
  setStandardSystems(p.standardSystems)
  try {
    for (const rule of rules.rules) {
      for (const target of targets) {
        // Only a rule whose every alternative names another resource type can be skipped: a
        // path such as `Patient.photo | nodesByType('Attachment')` applies to every resource.
        if (rule.resourceTypes && !rule.resourceTypes.includes(String(target.resourceType))) continue
        let result: unknown[]
        try {
          result = rule.evaluate(target)
        } catch (error) {
          if (rules.file.processingErrors === 'skip') return undefined
          throw ruleError(rule, res.resourceType, error)
        }
        for (const n of result) {
          if (!isResourceNode(n)) continue
          const id = nodeId(n)
          if (id !== undefined && !matches.has(id)) matches.set(id, {rule, node: n})
        }
      }
    }
  } finally {
    setCurrentDescendants(undefined, undefined)
  }

  const governing = (n: ResourceNode): Match | undefined => {
    let best: Match | undefined
    for (let x: ResourceNode | null = n; x; x = x.parentResNode) {
      const id = nodeId(x)
      const m = id === undefined ? undefined : matches.get(id)
      if (m && (!best || m.rule.index < best.rule.index)) best = m
    }
    return best
  }

  const shiftScope =
    p.dateShiftScope === 'patient'
      ? `patient\u0000${scope.patientKey}`
      : p.dateShiftScope === 'resource'
        ? `resource\u0000${source.resourceType}/${source.id ?? ''}`
        : 'export'
  let shiftCache: number | undefined
  const shift = (): number => (shiftCache ??= dateShiftDays(keys, shiftScope, p.dateShiftRange))

  const ops: Op[] = []
  const anchorOps: Op[] = []
  const doneAnchors = new Set<string>()

  const sameNode = (a: ResourceNode | null | undefined, b: ResourceNode): boolean =>
    !!a && (a === b || (nodeId(a) !== undefined && nodeId(a) === nodeId(b)))

  // Partial forms (a year, a ZIP3, an age) apply only where the rule selected the date, the
  // Address or the Age itself: a rule that removes a whole relative (`Patient.contact`) or a
  // whole block removes their dates and ZIP codes too.
  const ageAncestor = (n: ResourceNode, anchor: ResourceNode): Record<string, unknown> | undefined => {
    for (let x: ResourceNode | null = n; x; x = x.parentResNode) {
      if (nodeType(x) === 'Age' && isObject(x.data))
        return sameNode(x, anchor) || sameNode(x.parentResNode, anchor) || x === n ? x.data : undefined
      if (sameNode(x, anchor)) break
    }
    return undefined
  }

  const redactLeaf = (
    n: ResourceNode,
    type: string | undefined,
    key: string,
    parentType: string | undefined,
    anchor: ResourceNode,
    value: unknown,
  ): unknown => {
    if (typeof value === 'string' && type && DATE_TYPES.has(type) && p.enablePartialDatesForRedact && sameNode(n, anchor)) {
      return partialDate(value, referenceDate) ?? REMOVED
    }
    if (
      typeof value === 'string' &&
      key === 'postalCode' &&
      parentType === 'Address' &&
      p.enablePartialZipCodesForRedact &&
      (sameNode(n, anchor) || sameNode(n.parentResNode, anchor))
    ) {
      return partialZip(value, p.restrictedZipPrefixes) ?? REMOVED
    }
    if (p.enablePartialAgesForRedact) {
      const age = ageAncestor(n, anchor)
      if (age) {
        const years = ageInYears(age)
        return years !== undefined && years <= 89 ? value : REMOVED
      }
    }
    return REMOVED
  }

  const defaultLeaf = (type: string | undefined, value: unknown): unknown => {
    if (typeof value !== 'string') return value
    if (type === undefined) return p.dropUnmatchedFreeText ? REMOVED : value
    return FREE_TEXT_TYPES.has(type) && p.dropUnmatchedFreeText ? REMOVED : value
  }

  for (const n of nodes) {
    // fhirpath wraps some primitives (decimals) in objects: plain objects and arrays are complex nodes.
    const isLeaf = !isComplex(n.data)
    const m = governing(n)
    const value: unknown = isLeaf ? rawValue(n) : n.data

    // Complex anchors of substitute / generalize replace the whole node once.
    if (!isLeaf) {
      if (m && m.node.data === value && (m.rule.method === 'substitute' || m.rule.method === 'generalize')) {
        const c = containerOf(n)
        const k = c && realKey(c, n)
        const id = nodeId(n)
        if (c && k && id && !doneAnchors.has(id)) {
          doneAnchors.add(id)
          let replacement: unknown = REMOVED
          if (m.rule.method === 'substitute') replacement = structuredClone(m.rule.replaceWith)
          else {
            const out = generalize(value, m.rule)
            replacement = out === REMOVED ? REMOVED : isObject(out) ? out : {...(value as object), value: out}
          }
          anchorOps.push({container: c, key: k, index: n.index ?? undefined, value: replacement})
        }
      }
      continue
    }
    if (value === undefined) continue // only `_x` extension data; its children are walked separately
    const c = containerOf(n)
    if (!c) continue
    const key = realKey(c, n)
    if (key === undefined) continue
    const type = nodeType(n)
    const parentType = n.parentResNode ? nodeType(n.parentResNode) : undefined
    const index = n.index ?? undefined
    const set = (v: unknown): void => {
      if (v !== value) ops.push({container: c, key, index, value: v})
    }

    // Engine-managed: resource ids and references become per-export pseudonyms.
    const isResourceId = key === 'id' && typeof c.resourceType === 'string'
    const isReference = key === 'reference' && parentType === 'Reference'
    if (isResourceId || isReference) {
      if (m && (m.rule.method === 'redact' || m.rule.method === 'substitute')) {
        set(REMOVED)
      } else if (isResourceId) {
        // Contained resources keep their local ids (they are only referenced as `#id`).
        if (c === res) set(pseudonymId(keys, String(value)))
      } else {
        set(rewriteReference(String(value), opts))
      }
      continue
    }

    if (!m) {
      set(defaultLeaf(type, value))
      continue
    }
    const anchor = m.node
    switch (m.rule.method) {
      case 'keep':
        break
      case 'redact':
        set(redactLeaf(n, type, key, parentType, anchor, value))
        break
      case 'dateShift':
        if (typeof value === 'string' && (type === 'date' || type === 'dateTime' || type === 'instant')) {
          set(shiftDate(value, shift()))
        } else set(defaultLeaf(type, value))
        break
      case 'cryptoHash':
        set(typeof value === 'string' ? cryptoHash(keys, value) : defaultLeaf(type, value))
        break
      case 'encrypt':
        set(typeof value === 'string' ? encryptValue(keys, value) : defaultLeaf(type, value))
        break
      case 'substitute':
        if (nodeId(anchor) === nodeId(n)) {
          const r = m.rule.replaceWith
          set(r === null || typeof r !== 'object' ? r : REMOVED)
        }
        // leaves under a complex substitute anchor are replaced with the anchor
        break
      case 'perturb':
        if (typeof value === 'number' && (nodeId(anchor) === nodeId(n) || key === 'value')) {
          set(
            perturb(
              value,
              type,
              m.rule,
              keys,
              `${scope.patientKey}\u0000${source.resourceType}/${source.id ?? ''}\u0000${m.rule.index}\u0000${location(n)}`,
            ),
          )
        } else set(defaultLeaf(type, value))
        break
      case 'generalize':
        if (nodeId(anchor) === nodeId(n)) set(generalize(value, m.rule))
        else if (isObject(anchor.data)) {
          // leaves of a complex generalized node: handled by the anchor op
          if (key !== 'value') set(defaultLeaf(type, value))
        }
        break
    }
  }

  applyOps(ops)
  applyOps(anchorOps)
  prune(res)
  repairRequired(res)
  return res
}

/** The JSON value of a primitive node, read from its container (not fhirpath's wrapper). */
function rawValue(n: ResourceNode): unknown {
  const c = containerOf(n)
  const k = c && realKey(c, n)
  if (!c || k === undefined) return undefined
  const v = c[k]
  return n.index != null && Array.isArray(v) ? v[n.index] : v
}

function generalize(value: unknown, rule: CompiledRule): unknown {
  for (const {when, then} of rule.compiledCases ?? []) {
    let hit: unknown[]
    try {
      hit = evaluateValue(value, when)
    } catch {
      continue
    }
    if (hit.length === 1 && hit[0] === true) {
      const out = evaluateValue(value, then)
      return out.length === 0 || out[0] === undefined || out[0] === null ? REMOVED : out[0]
    }
  }
  return rule.otherValues === 'keep' ? value : REMOVED
}

const INTEGER_TYPES = new Set(['integer', 'positiveInt', 'unsignedInt', 'integer64'])

function perturb(value: number, type: string | undefined, rule: CompiledRule, keys: ExportKeys, where: string): number {
  const span = rule.span ?? 0
  const width = rule.rangeType === 'proportional' ? span * Math.abs(value) : span
  let out = value + (noiseUnit(keys, where) - 0.5) * width
  if (type && INTEGER_TYPES.has(type)) {
    out = Math.round(out)
    if (type === 'positiveInt') out = Math.max(1, out)
    if (type === 'unsignedInt') out = Math.max(0, out)
    return out
  }
  const digits = rule.roundTo ?? 2
  return Number(out.toFixed(digits))
}

function applyOps(ops: Op[]): void {
  for (const op of ops) {
    const cur = op.container[op.key]
    if (op.index !== undefined && Array.isArray(cur)) cur[op.index] = op.value
    else op.container[op.key] = op.value
  }
}

/** Removes REMOVED markers (and their `_x` companions), then empty objects, arrays and value-less extensions. */
function prune(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0
  if (!isObject(value)) return value !== REMOVED
  for (const key of Object.keys(value)) {
    const v = value[key]
    if (key.startsWith('_')) continue
    if (v === REMOVED) {
      delete value[key]
      delete value[`_${key}`]
      continue
    }
    if (Array.isArray(v)) {
      const companion = value[`_${key}`]
      const keepIdx: number[] = []
      v.forEach((item, i) => {
        if (item === REMOVED) return
        if (item !== null && typeof item === 'object' && !prune(item)) return
        keepIdx.push(i)
      })
      if (keepIdx.length !== v.length) {
        value[key] = keepIdx.map((i) => v[i])
        if (Array.isArray(companion)) value[`_${key}`] = keepIdx.map((i) => companion[i])
      }
      if ((value[key] as unknown[]).length === 0) {
        delete value[key]
        delete value[`_${key}`]
      }
      continue
    }
    if (isObject(v) && !prune(v)) {
      delete value[key]
    }
  }
  for (const key of Object.keys(value)) {
    if (!key.startsWith('_')) continue
    const v = value[key]
    if (Array.isArray(v)) {
      const items = v.map((item) => (isObject(item) && prune(item) ? item : null))
      if (items.every((i) => i === null)) delete value[key]
      else value[key] = items
    } else if (!isObject(v) || !prune(v)) delete value[key]
  }
  const keys = Object.keys(value)
  if (keys.length === 0) return false
  // An extension whose value and sub-extensions are gone carries nothing but its url.
  if (typeof value.url === 'string' && keys.every((k) => k === 'url' || k === 'id')) return false
  if (keys.length === 1 && keys[0] === 'resourceType') return true
  return true
}
