import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'
import {
  evalFhirPathTyped,
  getDataType,
  getTypedPropertyValueWithPath,
  isPrimitiveType,
  parseFhirPath,
  toTypedValue,
  UCUM,
  type TypedValue,
} from '@medplum/core'
import {fastSchema} from './fast-schema.js'
import type {FhirResource} from './types.js'

/**
 * The fast path of FHIR validation: `fastAccepts` is true only when Medplum's validateResource
 * would accept the resource too; false means "not sure", and validate.ts asks Medplum. Two parts:
 *
 * 1. ajv over HL7's R4 JSON schema as fast-schema.ts reshapes it (structure, required elements,
 *    JSON types and Medplum's primitive formats). `npm run build` compiles it once to standalone
 *    code (scripts/fhir-validators.mjs, dist/lib/fhir/fhir-validators.cjs, about 11 MB, loaded in
 *    about 0.2-0.3 s); run from the TypeScript sources it is compiled here on first use (about 3 s).
 * 2. What a JSON schema cannot say, checked on a walk guided by Medplum's own type schemas: no
 *    null, empty array, empty object or blank string anywhere, no string over 1 MiB, no infinite
 *    number (JSON.parse of 1e400), a primitive's extensions (`_given`) only beside its value, and
 *    the FHIRPath invariants Medplum evaluates (severity error; the resource's own on the
 *    resource, an element's on its values). ext-1 and the common ones (HOLDS_WHEN) are decided
 *    here; any other is evaluated with Medplum's FHIRPath engine, as Medplum does.
 *
 * Needs the R4 definitions indexed (validate.ts `loadDefinitions`, which validateFhir calls
 * first). ajv and the validators are loaded on the first validation, not when this module is
 * imported: no other command's start-up loads them.
 */

type Validator = (data: unknown) => boolean
type Validators = Record<string, Validator>

let validators: Validators | undefined

const require = createRequire(import.meta.url)

/** Whether the build generated the validators (dist); from the TypeScript sources they are compiled in the process. */
export function generatedValidators(): boolean {
  return existsSync(GENERATED)
}

const GENERATED = fileURLToPath(new URL('./fhir-validators.cjs', import.meta.url))

/** The compiled validators, one per resource type (a validation thread loads them as it starts). */
export function loadValidators(): Validators {
  if (validators) return validators
  validators = generatedValidators() ? (require(GENERATED) as Validators) : compileValidators()
  return validators
}

/** The ajv options of both the build-time and the run-time compilation. */
export const AJV_OPTIONS = {
  strict: false,
  validateSchema: false,
  unicodeRegExp: false,
  messages: false,
  allErrors: false,
  discriminator: true,
} as const

/** Compiles the schema in this process (from the TypeScript sources: no build step ran). */
export function compileValidators(): Validators {
  const {Ajv} = require('ajv') as typeof import('ajv')
  const {schema, resourceTypes} = fastSchema()
  const ajv = new Ajv(AJV_OPTIONS)
  ajv.addSchema(schema, 'fhir')
  const compiled: Validators = {}
  for (const type of resourceTypes) {
    let validate: Validator | undefined
    // Each type compiles when first validated (the first takes most of the time: the shared types).
    compiled[type] = (data) => {
      validate ??= ajv.getSchema(`fhir#/definitions/${type}`) as Validator
      return validate(data)
    }
  }
  return compiled
}

interface Constraint {
  key: string
  severity: string
  expression: string
}

/** Invariants Medplum does not evaluate (validation.ts skippedConstraintKeys). */
const SKIPPED = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19'])

interface Site {
  /** The element's name in Medplum's schema (value[x] for valueString). */
  element: string
  /** The value's type: a complex type to walk into, or a primitive. */
  type: string
  primitive: boolean
  constraints: Constraint[]
}

const sites = new Map<string, Map<string, Site>>()
const atoms = new Map<string, ReturnType<typeof parseFhirPath>>()

function errorConstraints(constraints: Constraint[] | undefined): Constraint[] {
  return (constraints ?? []).filter((c) => c.severity === 'error' && !SKIPPED.has(c.key))
}

/** A type's JSON keys (valueString for value[x], _given for given's extensions) and what each holds. */
function sitesOf(type: string): Map<string, Site> {
  let table = sites.get(type)
  if (table) return table
  table = new Map()
  for (const [name, element] of Object.entries(getDataType(type).elements)) {
    const constraints = errorConstraints(element.constraints as Constraint[] | undefined)
    const keys = name.endsWith('[x]')
      ? element.type.map((t) => [name.slice(0, -3) + t.code.charAt(0).toUpperCase() + t.code.slice(1), t.code] as const)
      : element.type.map((t) => [name, t.code] as const)
    for (const [key, code] of keys) {
      const primitive = isPrimitiveType(code)
      table.set(key, {element: name, type: code, primitive, constraints})
      if (primitive) table.set(`_${key}`, {element: name, type: 'Element', primitive: false, constraints: []})
    }
  }
  sites.set(type, table)
  return table
}

const MAX_STRING = 1024 * 1024

/** Strings Medplum accepts as any primitive: not blank, at most 1 MiB. */
function plainString(value: string): boolean {
  return value.length <= MAX_STRING && /\S/.test(value)
}

interface Walk {
  root: TypedValue
  resources: Record<string, unknown>[]
}

function holds(constraint: Constraint, value: TypedValue, walk: Walk): boolean {
  let atom = atoms.get(constraint.expression)
  if (!atom) {
    atom = parseFhirPath(constraint.expression)
    atoms.set(constraint.expression, atom)
  }
  const variables: Record<string, TypedValue> = {
    '%context': value,
    '%ucum': toTypedValue(UCUM),
    '%resource': toTypedValue(walk.resources[walk.resources.length - 1]),
    '%rootResource': walk.root,
  }
  try {
    const result = evalFhirPathTyped(atom, [value], variables)
    return result.length === 1 && result[0]?.value === true
  } catch {
    return false
  }
}

/** ext-1 (extension.exists() != value.exists()) on one extension, decided without FHIRPath. */
function extensionHolds(extension: unknown): boolean {
  if (!extension || typeof extension !== 'object' || Array.isArray(extension)) return false
  let nested = false
  let value = false
  for (const key of Object.keys(extension)) {
    if (key === 'extension') nested = true
    else if (key.startsWith('_value')) return false
    else if (key.startsWith('value')) value = true
  }
  return nested !== value
}

/** Whether an object has an element (a choice element under any of its types, with or without its extensions). */
function has(object: Record<string, unknown>, stem: string, choice = false): boolean {
  if (!choice) return stem in object || `_${stem}` in object
  for (const key of Object.keys(object)) if (key.startsWith(stem) || key.startsWith(`_${stem}`)) return true
  return false
}

const OBS_7 = 'value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()'
const CON_4 =
  "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()"
const CON_5 =
  "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()"
const CTM_1 = 'onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))'

type Item = Record<string, unknown>
const items = (value: unknown): Item[] => (Array.isArray(value) ? (value as Item[]) : value === undefined ? [] : [value as Item])
const isNumber = (object: Item, key: string, test: (n: number) => boolean): boolean =>
  !(`_${key}` in object) && typeof object[key] === 'number' && test(object[key] as number)

/**
 * Invariants decided here, on the object they are about (the resource, or one value of an
 * element), for the shapes the samples have: most hold because an element is absent (the other
 * operand then ends in empty() or exists(), so Medplum's evaluation of it cannot fail either).
 * False only means "not decided here": the FHIRPath engine then evaluates the invariant.
 */
const HOLDS_WHEN: Record<string, [expression: string, holds: (object: Item) => boolean]> = {
  'dom-2': ['contained.contained.empty()', (r) => items(r.contained).every((c) => !has(c, 'contained'))],
  'dom-4': [
    'contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()',
    (r) => items(r.contained).every((c) => items(c.meta).every((m) => !has(m, 'versionId') && !has(m, 'lastUpdated'))),
  ],
  'dom-5': ['contained.meta.security.empty()', (r) => items(r.contained).every((c) => items(c.meta).every((m) => !has(m, 'security')))],
  'obs-6': ['dataAbsentReason.empty() or value.empty()', (r) => !has(r, 'dataAbsentReason') || !has(r, 'value', true)],
  'obs-7': [OBS_7, (r) => !has(r, 'value', true) || !has(r, 'component')],
  'con-4': [CON_4, (r) => !has(r, 'abatement', true)],
  'con-5': [CON_5, (r) => !has(r, 'verificationStatus') || !has(r, 'clinicalStatus')],
  'ctm-1': [CTM_1, (p) => !has(p, 'onBehalfOf')],
  'cpl-3': ['detail.empty() or reference.empty()', (a) => !has(a, 'detail') || !has(a, 'reference')],
  'gol-1': ['(detail.exists() and measure.exists()) or detail.exists().not()', (t) => !has(t, 'detail', true) || has(t, 'measure')],
  'org-2': ["where(use = 'home').empty()", (a) => !has(a, 'use') || (typeof a.use === 'string' && a.use !== 'home' && !has(a, '_use'))],
  'org-3': ["where(use = 'home').empty()", (t) => !has(t, 'use') || (typeof t.use === 'string' && t.use !== 'home' && !has(t, '_use'))],
  'tim-1': ['duration.empty() or durationUnit.exists()', (r) => !has(r, 'duration') || typeof r.durationUnit === 'string'],
  'tim-2': ['period.empty() or periodUnit.exists()', (r) => !has(r, 'period') || typeof r.periodUnit === 'string'],
  'tim-4': ['duration.exists() implies duration >= 0', (r) => !has(r, 'duration') || isNumber(r, 'duration', (n) => n >= 0)],
  'tim-5': ['period.exists() implies period >= 0', (r) => !has(r, 'period') || isNumber(r, 'period', (n) => n >= 0)],
  'tim-6': ['periodMax.empty() or period.exists()', (r) => !has(r, 'periodMax') || typeof r.period === 'number'],
  'tim-7': ['durationMax.empty() or duration.exists()', (r) => !has(r, 'durationMax') || typeof r.duration === 'number'],
  'tim-8': ['countMax.empty() or count.exists()', (r) => !has(r, 'countMax') || typeof r.count === 'number'],
  'tim-9': ["offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())", (r) => !has(r, 'offset')],
  'tim-10': ['timeOfDay.empty() or when.empty()', (r) => !has(r, 'timeOfDay') || !has(r, 'when')],
}

/** Whether an invariant holds on every one of these objects by HOLDS_WHEN (only for the expression it was written for). */
function holdsWithout(constraint: Constraint, objects: unknown[]): boolean {
  const shortcut = HOLDS_WHEN[constraint.key]
  if (shortcut === undefined || shortcut[0] !== constraint.expression) return false
  return objects.every((o) => o !== null && typeof o === 'object' && !Array.isArray(o) && shortcut[1](o as Item))
}

function constraintsHold(constraints: Constraint[], parent: TypedValue, site: Site, values: unknown, walk: Walk): boolean {
  let typed: TypedValue[] | undefined
  for (const constraint of constraints) {
    if (constraint.key === 'ext-1') {
      if (!items(values).every(extensionHolds)) return false
      continue
    }
    if (holdsWithout(constraint, items(values))) continue
    if (!typed) {
      const found = getTypedPropertyValueWithPath(parent, site.element)
      typed = Array.isArray(found) ? found : [found]
    }
    for (const value of typed) if (value.value !== undefined && !holds(constraint, value, walk)) return false
  }
  return true
}

/** Walks one object of a complex type; false at the first thing it cannot vouch for. */
function objectHolds(object: Record<string, unknown>, type: string, walk: Walk): boolean {
  const keys = Object.keys(object)
  if (keys.length === 0 || 'length' in object) return false
  const table = sitesOf(type)
  const typed: TypedValue = {type, value: object}
  for (const key of keys) {
    const value = object[key]
    if (key === 'resourceType') {
      if (typeof value !== 'string') return false
      continue
    }
    const site = table.get(key)
    if (!site) return false
    // A primitive's extensions only beside the primitive, item for item.
    if (key.startsWith('_')) {
      const partner = object[key.slice(1)]
      if (partner === undefined || Array.isArray(partner) !== Array.isArray(value)) return false
      if (Array.isArray(value) && (partner as unknown[]).length !== value.length) return false
    }
    if (Array.isArray(value)) {
      if (value.length === 0) return false
      for (const item of value) if (!valueHolds(item, site, walk)) return false
    } else if (!valueHolds(value, site, walk)) return false
    if (site.constraints.length > 0 && !key.startsWith('_') && !constraintsHold(site.constraints, typed, site, value, walk)) return false
  }
  return true
}

function valueHolds(value: unknown, site: Site, walk: Walk): boolean {
  if (value === null || value === undefined) return false
  if (typeof value === 'string') return plainString(value)
  // JSON.parse gives Infinity for 1e400: ajv's number type lets it through, Medplum does not.
  if (typeof value === 'number') return site.primitive && Number.isFinite(value)
  if (typeof value !== 'object') return site.primitive
  if (Array.isArray(value) || site.primitive) return false
  const object = value as Record<string, unknown>
  if (site.type === 'Resource') return resourceHolds(object, walk, false)
  return objectHolds(object, site.type, walk)
}

function resourceHolds(resource: Record<string, unknown>, walk: Walk, root: boolean): boolean {
  const type = resource.resourceType
  if (typeof type !== 'string') return false
  walk.resources.push(resource)
  try {
    if (root) {
      const own = errorConstraints(getDataType(type).constraints as Constraint[] | undefined)
      for (const constraint of own) {
        if (holdsWithout(constraint, [resource])) continue
        if (!holds(constraint, walk.root, walk)) return false
      }
    }
    return objectHolds(resource, type, walk)
  } finally {
    walk.resources.pop()
  }
}

/**
 * True only if Medplum's validateResource would accept this resource (its resourceType a known R4
 * resource type and its id checked by the caller); false when it may not.
 */
export function fastAccepts(resource: FhirResource): boolean {
  const validators = loadValidators()
  // Own properties only: a resourceType such as "constructor" must not find Object's.
  const validate = Object.hasOwn(validators, resource.resourceType) ? validators[resource.resourceType] : undefined
  if (!validate?.(resource)) return false
  const root = toTypedValue(resource)
  return resourceHolds(resource as unknown as Record<string, unknown>, {root, resources: []}, true)
}
