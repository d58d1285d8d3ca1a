import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import canonicalize from 'canonicalize'

import {ExitCode, MedctlError} from '../core/errors.js'
import {compilePath, evaluateValue, splitTopLevelUnion, type CompiledPath} from './fhirpath.js'

export const DEID_METHODS = ['keep', 'redact', 'dateShift', 'cryptoHash', 'encrypt', 'substitute', 'perturb', 'generalize'] as const
export type DeidMethod = (typeof DEID_METHODS)[number]

export interface FhirPathRule {
  path: string
  method: DeidMethod
  /** Free text for people reading the rule file; ignored by the engine. */
  description?: string
  /** substitute: the replacement (a string for primitives, any JSON for complex nodes). */
  replaceWith?: unknown
  /** perturb: width of the noise (absolute, or a fraction of the value when proportional). */
  span?: number
  rangeType?: 'fixed' | 'proportional'
  roundTo?: number
  /** generalize: FHIRPath condition over `$this` -> FHIRPath expression giving the new value. */
  cases?: Record<string, string>
  otherValues?: 'redact' | 'keep'
}

export interface RuleParameters {
  dateShiftKey?: string
  /** `patient` (default: one shift per patient, intervals preserved), `resource` or `export`. */
  dateShiftScope?: 'patient' | 'resource' | 'export'
  /** Largest shift in days either way (default 50, as in the Anonymizer). */
  dateShiftRange?: number
  cryptoHashKey?: string
  encryptKey?: string
  enablePartialAgesForRedact?: boolean
  enablePartialDatesForRedact?: boolean
  enablePartialZipCodesForRedact?: boolean
  /** Three-digit ZIP prefixes whose areas hold 20,000 people or fewer: written as `000`. */
  restrictedZipPrefixes?: string[]
  /** Which census the restricted list comes from (recorded in the manifest). */
  zipCensusList?: string
  /** Drop string/markdown/xhtml/base64Binary values no rule matched (default true). */
  dropUnmatchedFreeText?: boolean
  /**
   * Code systems and URL roots that are public terminology or specification URLs (LOINC, SNOMED
   * CT, RxNorm, ICD, CVX, UCUM, HL7): what FHIRPath's `isStandardSystem()` tests a uri against.
   * A value matches an entry when it equals it, or starts with it and the entry ends in `/` or
   * `:`; values with a query or fragment never match. Default: STANDARD_SYSTEMS.
   */
  standardSystems?: string[]
}

/** Public terminologies and specification roots kept by default (see RuleParameters.standardSystems). */
export const STANDARD_SYSTEMS: readonly string[] = [
  'http://loinc.org',
  'http://snomed.info/sct',
  'http://www.nlm.nih.gov/research/umls/rxnorm',
  'http://hl7.org/fhir/sid/icd-10',
  'http://hl7.org/fhir/sid/icd-10-cm',
  'http://hl7.org/fhir/sid/icd-10-pcs',
  'http://hl7.org/fhir/sid/icd-9-cm',
  'http://id.who.int/icd/release/11/mms',
  'http://hl7.org/fhir/sid/cvx',
  'http://hl7.org/fhir/sid/ndc',
  'http://unitsofmeasure.org',
  'http://terminology.hl7.org/',
  'http://hl7.org/fhir/',
  'http://dicom.nema.org/resources/ontology/DCM',
  'http://www.ama-assn.org/go/cpt',
  'http://nucc.org/provider-taxonomy',
  'http://www.whocc.no/atc',
  'https://bluebutton.cms.gov/resources/codesystem/',
  'urn:ietf:bcp:47',
  'urn:ietf:bcp:13',
  'urn:iso:std:iso:3166',
  'urn:iso:std:iso:4217',
  'urn:oid:2.16.840.1.113883.6.238',
]

export interface RuleFile {
  name?: string
  fhirVersion: 'R4'
  processingErrors?: 'raise' | 'skip'
  fhirPathRules: FhirPathRule[]
  parameters?: RuleParameters
}

export interface CompiledRule extends FhirPathRule {
  index: number
  evaluate: CompiledPath
  /**
   * Resource types the rule can select anything in: the leading type of every top-level `|`
   * alternative, when each alternative starts with one (`Patient.photo | Media.content`);
   * undefined when any alternative can match any resource (`nodesByType('Attachment')`,
   * `descendants()`, `implicitRules`). A quick filter only, never a narrowing of the path.
   */
  resourceTypes?: readonly string[]
  compiledCases?: Array<{when: string; then: string}>
}

export interface LoadedRules {
  name: string
  sha256: string
  file: RuleFile
  rules: CompiledRule[]
  parameters: Required<Omit<RuleParameters, 'dateShiftKey' | 'cryptoHashKey' | 'encryptKey'>> &
    Pick<RuleParameters, 'dateShiftKey' | 'cryptoHashKey' | 'encryptKey'>
}

function invalid(message: string, rule?: number, cause?: unknown): MedctlError {
  return new MedctlError('E_RULES_INVALID', rule === undefined ? `rule file: ${message}` : `rule ${rule}: ${message}`, {
    exitCode: ExitCode.USAGE,
    cause,
    details: rule === undefined ? {} : {rule},
    suggestions: ['see data/rules/README.md for the rule-file format'],
  })
}

const ABSTRACT_ROOTS = new Set(['Resource', 'DomainResource'])

function leadingResourceType(path: string): string | undefined {
  const m = /^([A-Z][A-Za-z]+)(?:\.|$)/.exec(path.trim())
  if (!m || ABSTRACT_ROOTS.has(m[1])) return undefined
  return m[1]
}

/** The resource types a whole path is confined to (every alternative's leading type), or undefined. */
export function ruleResourceTypes(path: string): string[] | undefined {
  const types = new Set<string>()
  for (const part of splitTopLevelUnion(path)) {
    const t = leadingResourceType(part)
    if (t === undefined) return undefined
    types.add(t)
  }
  return [...types].sort()
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Validates and compiles a parsed rule file. Throws MedctlError E_RULES_INVALID (exit 2) naming the rule index. */
export function compileRules(input: unknown, options: {name?: string; sha256?: string} = {}): LoadedRules {
  if (!isRecord(input)) throw invalid('must be a JSON object')
  if (input.fhirVersion !== 'R4') throw invalid('fhirVersion must be "R4"')
  if (!Array.isArray(input.fhirPathRules)) throw invalid('fhirPathRules must be an array')
  const params = input.parameters ?? {}
  if (!isRecord(params)) throw invalid('parameters must be an object')
  const rules: CompiledRule[] = input.fhirPathRules.map((raw: unknown, index: number) => {
    if (!isRecord(raw)) throw invalid('must be an object', index)
    const {path, method} = raw
    if (typeof path !== 'string' || path.trim() === '') throw invalid('path must be a non-empty FHIRPath string', index)
    if (typeof method !== 'string' || !(DEID_METHODS as readonly string[]).includes(method)) {
      throw invalid(`method must be one of ${DEID_METHODS.join(', ')} (got ${JSON.stringify(method)})`, index)
    }
    let evaluate: CompiledPath
    try {
      evaluate = compilePath(path)
    } catch (error) {
      throw invalid(`path ${JSON.stringify(path)} is not valid FHIRPath: ${(error as Error).message}`, index, error)
    }
    const rule: CompiledRule = {...(raw as unknown as FhirPathRule), index, evaluate, resourceTypes: ruleResourceTypes(path)}
    switch (method) {
      case 'substitute':
        if (!('replaceWith' in raw)) throw invalid('substitute needs replaceWith', index)
        break
      case 'perturb':
        if (typeof raw.span !== 'number' || !(raw.span >= 0)) throw invalid('perturb needs a span >= 0', index)
        if (raw.rangeType !== undefined && raw.rangeType !== 'fixed' && raw.rangeType !== 'proportional') {
          throw invalid('rangeType must be "fixed" or "proportional"', index)
        }
        if (
          raw.roundTo !== undefined &&
          !(Number.isInteger(raw.roundTo) && (raw.roundTo as number) >= 0 && (raw.roundTo as number) <= 28)
        ) {
          throw invalid('roundTo must be an integer from 0 to 28', index)
        }
        break
      case 'generalize': {
        if (!isRecord(raw.cases) || Object.keys(raw.cases).length === 0) throw invalid('generalize needs cases', index)
        if (raw.otherValues !== undefined && raw.otherValues !== 'redact' && raw.otherValues !== 'keep') {
          throw invalid('otherValues must be "redact" or "keep"', index)
        }
        const cases: Array<{when: string; then: string}> = []
        for (const [when, then] of Object.entries(raw.cases)) {
          if (typeof then !== 'string') throw invalid(`case ${JSON.stringify(when)} must map to a FHIRPath string`, index)
          for (const expr of [when, then]) {
            try {
              evaluateValue({}, expr)
            } catch (error) {
              // Type errors against an empty object are fine; syntax errors are not.
              if (/Parse|mismatched|extraneous|no viable|token recognition/i.test((error as Error).message)) {
                throw invalid(`case expression ${JSON.stringify(expr)} is not valid FHIRPath`, index, error)
              }
            }
          }
          cases.push({when, then})
        }
        rule.compiledCases = cases
        break
      }
      default:
        break
    }
    return rule
  })

  const scope = params.dateShiftScope ?? 'patient'
  if (scope !== 'patient' && scope !== 'resource' && scope !== 'export') {
    throw invalid('parameters.dateShiftScope must be "patient", "resource" or "export"')
  }
  const zips = params.restrictedZipPrefixes ?? []
  if (!Array.isArray(zips) || !zips.every((z) => typeof z === 'string' && /^\d{3}$/.test(z))) {
    throw invalid('parameters.restrictedZipPrefixes must be an array of three-digit strings')
  }
  for (const k of ['dateShiftKey', 'cryptoHashKey', 'encryptKey'] as const) {
    if (params[k] !== undefined && (typeof params[k] !== 'string' || params[k] === '')) {
      throw invalid(`parameters.${k} must be a non-empty string when given`)
    }
  }
  const bool = (k: string, dflt: boolean): boolean => {
    const v = params[k]
    if (v === undefined) return dflt
    if (typeof v !== 'boolean') throw invalid(`parameters.${k} must be true or false`)
    return v
  }
  const range = params.dateShiftRange ?? 50
  if (!Number.isInteger(range) || (range as number) < 0 || (range as number) > 3650) {
    throw invalid('parameters.dateShiftRange must be an integer from 0 to 3650')
  }

  const standard = params.standardSystems ?? STANDARD_SYSTEMS
  if (!Array.isArray(standard) || !standard.every((x) => typeof x === 'string' && x.length > 0)) {
    throw invalid('parameters.standardSystems must be an array of non-empty strings')
  }

  const file = input as unknown as RuleFile
  const sha256 =
    options.sha256 ??
    createHash('sha256')
      .update(canonicalize(input) ?? '', 'utf8')
      .digest('hex')
  return {
    name: options.name ?? (typeof input.name === 'string' ? input.name : 'custom'),
    sha256,
    file,
    rules,
    parameters: {
      dateShiftKey: params.dateShiftKey as string | undefined,
      cryptoHashKey: params.cryptoHashKey as string | undefined,
      encryptKey: params.encryptKey as string | undefined,
      dateShiftScope: scope,
      dateShiftRange: range as number,
      enablePartialAgesForRedact: bool('enablePartialAgesForRedact', false),
      enablePartialDatesForRedact: bool('enablePartialDatesForRedact', false),
      enablePartialZipCodesForRedact: bool('enablePartialZipCodesForRedact', false),
      restrictedZipPrefixes: [...(zips as string[])].sort(),
      zipCensusList: typeof params.zipCensusList === 'string' ? params.zipCensusList : 'unspecified',
      dropUnmatchedFreeText: bool('dropUnmatchedFreeText', true),
      standardSystems: [...(standard as string[])],
    },
  }
}

/** Parses rule-file text; the rules hash is the SHA-256 of these exact bytes. */
export function parseRules(text: string | Uint8Array, name?: string): LoadedRules {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text)
  let parsed: unknown
  try {
    parsed = JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    throw invalid(`not valid JSON: ${(error as Error).message}`, undefined, error)
  }
  return compileRules(parsed, {name, sha256: createHash('sha256').update(bytes).digest('hex')})
}

export function loadRulesFile(path: string, name?: string): LoadedRules {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (error) {
    throw new MedctlError('E_RULES_NOT_FOUND', `cannot read rule file ${path}: ${(error as Error).message}`, {
      exitCode: ExitCode.USAGE,
      cause: error,
    })
  }
  return parseRules(bytes, name)
}

/** Path of a rule set shipped in data/rules (e.g. `safe-harbor`). */
export function builtinRulesPath(name: string): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw invalid(`unknown built-in rule set ${JSON.stringify(name)}`)
  // src/lib/deid or dist/[src/]lib/deid: walk up to the package root that holds data/rules.
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'data', 'rules', `${name}.json`)
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  throw new MedctlError('E_RULES_NOT_FOUND', `built-in rule set ${JSON.stringify(name)} not found`, {exitCode: ExitCode.USAGE})
}

export function loadBuiltinRules(name = 'safe-harbor'): LoadedRules {
  return loadRulesFile(builtinRulesPath(name), name)
}
