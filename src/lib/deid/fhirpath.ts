import fhirpath, {type ResourceNode} from 'fhirpath'
import r4 from 'fhirpath/fhir-context/r4'

/**
 * The thin layer over HL7's `fhirpath` package: compiling rule paths against the R4 model with
 * `resolveInternalTypes: false` (so results are `ResourceNode`s that know their parent, property
 * and index), the Anonymizer's `nodesByType('T')` function, and stable identities for nodes so
 * that nodes found by different expressions can be compared.
 */

export const R4_MODEL = r4

export type CompiledPath = (resource: unknown) => unknown[]

/** Descendants of the resource being processed, computed once and reused by `nodesByType`. */
let currentDescendants: {root: unknown; nodes: ResourceNode[]} | undefined

export function setCurrentDescendants(root: unknown, nodes: ResourceNode[] | undefined): void {
  currentDescendants = nodes ? {root, nodes} : undefined
}

/** The standard systems `isStandardSystem()` accepts, set by the engine from the rule parameters. */
let standardSystems: readonly string[] = []

export function setStandardSystems(list: readonly string[]): void {
  standardSystems = list
}

/** Whether a uri is a public terminology / specification URL of the list (see RuleParameters.standardSystems). */
export function isStandardSystem(value: string, list: readonly string[] = standardSystems): boolean {
  if (/[?#]/.test(value)) return false
  return list.some((s) => value === s || ((s.endsWith('/') || s.endsWith(':')) && value.startsWith(s)))
}

function primitiveOf(item: unknown): unknown {
  if (isResourceNode(item)) {
    const d = item.data as unknown
    return d !== null && typeof d === 'object' && 'value' in (d as object) && !isComplex(d) ? (d as {value: unknown}).value : d
  }
  return item
}

export function isResourceNode(value: unknown): value is ResourceNode {
  return (
    typeof value === 'object' &&
    value !== null &&
    'parentResNode' in value &&
    'data' in value &&
    typeof (value as {convertData?: unknown}).convertData === 'function'
  )
}

/** The FHIR type of a node: the model's type, `Extension` for extensions, a contained resource's type. */
export function nodeType(n: ResourceNode): string | undefined {
  if (n.fhirNodeDataType) return n.fhirNodeDataType
  if (n.propName === 'extension' || n.propName === 'modifierExtension') return 'Extension'
  const d = n.data as {resourceType?: unknown} | null
  if (d && typeof d === 'object' && typeof d.resourceType === 'string') return d.resourceType
  return undefined
}

function isAncestor(anc: ResourceNode, n: ResourceNode): boolean {
  for (let p = n.parentResNode; p; p = p.parentResNode) {
    if (p.data === anc.data && typeof anc.data === 'object') return true
  }
  return false
}

const invocationTable = {
  nodesByType: {
    fn(coll: ResourceNode[], typeName: string): ResourceNode[] {
      const out: ResourceNode[] = []
      const all = currentDescendants
      if (!all) return out
      for (const focus of coll) {
        if (!isResourceNode(focus)) continue
        const atRoot = focus.data === all.root
        for (const n of all.nodes) {
          if (nodeType(n) !== typeName) continue
          if (atRoot || isAncestor(focus, n)) out.push(n)
        }
      }
      return out
    },
    arity: {1: ['String' as const]},
    internalStructures: true,
  },
  isStandardSystem: {
    fn(coll: unknown[]): boolean[] {
      if (coll.length !== 1) return []
      const v = primitiveOf(coll[0])
      return [typeof v === 'string' && isStandardSystem(v)]
    },
    arity: {0: []},
    internalStructures: true,
  },
}

/**
 * Splits a path on its top-level `|`. FHIRPath's union removes items that are *equal* (two dates
 * of the same instant, two identical strings), which would let a node escape its rule; a rule
 * path's top-level alternatives are therefore evaluated separately and their nodes all kept.
 */
export function splitTopLevelUnion(expression: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quote: string | undefined
  let start = 0
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i]
    if (quote) {
      if (ch === '\\') i++
      else if (ch === quote) quote = undefined
      continue
    }
    if (ch === "'" || ch === '`' || ch === '"') quote = ch
    else if (ch === '(' || ch === '[' || ch === '{') depth++
    else if (ch === ')' || ch === ']' || ch === '}') depth--
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim())
      start = i + 1
    }
  }
  parts.push(expression.slice(start).trim())
  return parts
}

export function compilePath(expression: string): CompiledPath {
  const fns = splitTopLevelUnion(expression).map((part) =>
    fhirpath.compile(part, r4, {
      resolveInternalTypes: false,
      userInvocationTable: invocationTable,
    }),
  )
  if (fns.length === 1) return (resource: unknown) => fns[0](resource) as unknown[]
  return (resource: unknown) => fns.flatMap((fn) => fn(resource) as unknown[])
}

const descendantsFn = compilePath('descendants()')

/** Every node of a resource (object and primitive), each with its parent chain. */
export function allNodes(resource: unknown): ResourceNode[] {
  return descendantsFn(resource).filter(isResourceNode)
}

/** Evaluates a FHIRPath expression over a plain value (for generalize cases). */
export function evaluateValue(value: unknown, expression: string): unknown[] {
  return fhirpath.evaluate(value, expression, {}, r4) as unknown[]
}

// ---- node identity ---------------------------------------------------------------------------

let nextObjectId = 1
const objectIds = new WeakMap<object, number>()

export function objectId(o: object): number {
  let id = objectIds.get(o)
  if (id === undefined) {
    id = nextObjectId++
    objectIds.set(o, id)
  }
  return id
}

/** The JSON object that holds a primitive node's value (its parent's data, or `_data` for extensions on primitives). */
export function containerOf(n: ResourceNode): Record<string, unknown> | undefined {
  const p = n.parentResNode
  if (!p) return undefined
  if (isComplex(p.data) && !Array.isArray(p.data)) return p.data as Record<string, unknown>
  if (p._data && typeof p._data === 'object') return p._data
  return undefined
}

/** The JSON property that holds the node (choice types: `valueString`, even when reached as `value`). */
export function realKey(container: Record<string, unknown>, n: ResourceNode): string | undefined {
  const p = n.propName
  if (!p) return undefined
  if (Object.hasOwn(container, p)) return p
  for (const k of Object.keys(container)) {
    if (k.length > p.length && k.startsWith(p) && k[p.length] >= 'A' && k[p.length] <= 'Z') {
      const v = container[k]
      if (v === n.data || (Array.isArray(v) && n.index != null && v[n.index] === n.data)) return k
    }
  }
  return undefined
}

/** Plain JSON objects and arrays; fhirpath's wrappers of primitives (decimals, dates) are not. */
export function isComplex(d: unknown): d is object {
  return d !== null && typeof d === 'object' && (Array.isArray(d) || Object.getPrototypeOf(d) === Object.prototype)
}

/** A stable identity for a node: object identity for complex nodes, container+key+index for primitives. */
export function nodeId(n: ResourceNode): string | undefined {
  const d = n.data
  if (isComplex(d)) return `o${objectId(d)}`
  const c = containerOf(n)
  if (!c) return undefined
  const k = realKey(c, n)
  if (k === undefined) return undefined
  return `p${objectId(c)}.${k}.${n.index ?? ''}`
}
