import {getDataType} from '@medplum/core'

import {loadDefinitions} from '../fhir/validate.js'

/** HL7's data-absent-reason extension: the FHIR way to say a required value was withheld. */
export const DATA_ABSENT_REASON_URL = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason'

export function maskedExtension(): {url: string; valueCode: string} {
  return {url: DATA_ABSENT_REASON_URL, valueCode: 'masked'}
}

interface ElementSchema {
  min: number
  isArray?: boolean
  type: Array<{code: string}>
}
interface TypeSchema {
  elements: Record<string, ElementSchema>
}

const cache = new Map<string, TypeSchema | null>()

function schemaOf(type: string): TypeSchema | undefined {
  let s = cache.get(type)
  if (s === undefined) {
    loadDefinitions()
    try {
      s = getDataType(type) as unknown as TypeSchema
      if (!s || typeof s.elements !== 'object') s = null
    } catch {
      s = null
    }
    cache.set(type, s)
  }
  return s ?? undefined
}

/** FHIR primitives are lower-case type codes (and FHIRPath system types, e.g. `Extension.url`). */
function isPrimitive(code: string): boolean {
  return /^[a-z]/.test(code) || code.startsWith('http://hl7.org/fhirpath/System.')
}

const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The JSON keys that hold an element (`value[x]` -> `valueQuantity`, `_valueString`…) and each one's type. */
function presentKeys(obj: Record<string, unknown>, name: string, el: ElementSchema): Array<{key: string; type: string}> {
  const out: Array<{key: string; type: string}> = []
  if (name.endsWith('[x]')) {
    const base = name.slice(0, -3)
    for (const t of el.type) {
      const key = base + upperFirst(t.code)
      if (obj[key] !== undefined || obj[`_${key}`] !== undefined) out.push({key, type: t.code})
    }
  } else if (obj[name] !== undefined || obj[`_${name}`] !== undefined) out.push({key: name, type: el.type[0]?.code ?? ''})
  return out
}

/**
 * Makes a de-identified resource valid again where removing values emptied a required element
 * (min >= 1): the element gets HL7's data-absent-reason extension with `masked` — a Reference,
 * CodeableConcept or other complex value becomes `{"extension": [dar]}`; a primitive keeps no
 * value and carries the extension in its `_element` companion. Nothing is invented: no value,
 * no code, no reference. Walks contained resources and every backbone element; repeats are
 * repaired in each item. Modifies `resource` in place.
 */
export function repairRequired(resource: Record<string, unknown>): void {
  if (typeof resource.resourceType !== 'string') return
  repairObject(resource, resource.resourceType)
}

function repairObject(obj: Record<string, unknown>, type: string): void {
  const schema = schemaOf(type)
  if (!schema) return
  for (const [name, el] of Object.entries(schema.elements)) {
    if (name.includes('.')) continue
    const present = presentKeys(obj, name, el)
    if (present.length === 0) {
      if (el.min >= 1 && el.type.length > 0) addPlaceholder(obj, name, el)
      continue
    }
    for (const {key, type: childType} of present) {
      const value = obj[key]
      const items = Array.isArray(value) ? value : [value]
      for (const item of items) {
        if (!isObject(item)) continue
        if (childType === 'Resource' && typeof item.resourceType === 'string') repairObject(item, item.resourceType)
        else if (!isPrimitive(childType)) repairObject(item, childType)
      }
    }
  }
}

function addPlaceholder(obj: Record<string, unknown>, name: string, el: ElementSchema): void {
  const first = el.type[0].code
  const key = name.endsWith('[x]') ? name.slice(0, -3) + upperFirst(first) : name
  if (isPrimitive(first)) {
    // A primitive array would need aligned nulls; no R4 element is a required primitive array.
    if (!el.isArray) obj[`_${key}`] = {extension: [maskedExtension()]}
    return
  }
  const placeholder: Record<string, unknown> = {extension: [maskedExtension()]}
  obj[key] = el.isArray ? [placeholder] : placeholder
  // A required element inside the placeholder (a backbone element's own required children).
  repairObject(placeholder, first)
}
