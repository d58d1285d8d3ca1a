import {isReferenceData} from './data-classes.js'
import {FHIR_ID} from './json.js'
import type {FhirResource} from './types.js'

interface Scope {
  fullUrls: Map<string, string>
  identifiers: Map<string, string>
}

function newScope(): Scope {
  return {fullUrls: new Map(), identifiers: new Map()}
}

/** What a reference resolves to: a local Type/id (or the reference itself when local), or why not. */
export type Resolution = {ok: true; target: string} | {ok: false; kind: 'dangling' | 'foreign' | 'invalid'}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//
const RELATIVE = /^([A-Z][A-Za-z]+)\/([^/?#]+)(\/_history\/[^/?#]+)?$/
const PATIENT_URL = /(?:^|\/)Patient\/[^/?#]+(?:\/_history\/[^/?#]+)?$/

/**
 * Resolves the references a Bundle uses to point at resources by something other than Type/id:
 * `urn:uuid:` fullUrls, absolute fullUrls and conditional references
 * (`Organization?identifier=system|value`). One resolver is shared across the files of an import,
 * so patient bundles can point at the organisations and practitioners of an earlier bundle.
 *
 * Bundles nest (a document Bundle inside a collection): each open Bundle is a scope, searched from
 * the innermost out, so closing an inner Bundle never forgets the entries of the outer one.
 *
 * An absolute URL that no entry of the import declares as its fullUrl is a reference to another
 * server: it is attached to a local resource only when it starts with one of `localBases`; a
 * foreign absolute reference to a Patient is refused (it must never land on the local patient who
 * happens to share the id).
 */
export class ReferenceResolver {
  // Import-wide: reference data (organisations, practitioners…) and patients, whatever the file.
  private readonly global = newScope()
  // One scope per open Bundle (innermost last), forgotten when the Bundle ends, so memory stays
  // bounded by the largest bundle and the reference data, not by the size of the import.
  private readonly scopes: Scope[] = []
  private readonly localBases: string[]

  constructor(options: {localBases?: readonly string[]} = {}) {
    this.localBases = (options.localBases ?? []).map((base) => (base.endsWith('/') ? base : `${base}/`))
  }

  beginBundle(): void {
    this.scopes.push(newScope())
  }

  endBundle(): void {
    this.scopes.pop()
  }

  register(resource: FhirResource, fullUrl?: string): void {
    if (!resource.id || typeof resource.id !== 'string') return
    const global = resource.resourceType === 'Patient' || isReferenceData(resource)
    const scope = global || this.scopes.length === 0 ? this.global : (this.scopes.at(-1) as Scope)
    const target = `${resource.resourceType}/${resource.id}`
    if (typeof fullUrl === 'string' && fullUrl) scope.fullUrls.set(fullUrl, target)
    const identifiers = resource.identifier
    if (!Array.isArray(identifiers)) return
    for (const identifier of identifiers as Array<{system?: unknown; value?: unknown} | null>) {
      if (!identifier || typeof identifier.value !== 'string') continue
      const system = typeof identifier.system === 'string' ? identifier.system : ''
      scope.identifiers.set(`${resource.resourceType}?identifier=${system}|${identifier.value}`, target)
      if (!system) scope.identifiers.set(`${resource.resourceType}?identifier=${identifier.value}`, target)
    }
  }

  private lookup(kind: keyof Scope, key: string): string | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const found = (this.scopes[i] as Scope)[kind].get(key)
      if (found !== undefined) return found
    }
    return this.global[kind].get(key)
  }

  /** The Type/id a reference stands for (the reference itself when it needs no resolving), or why it cannot be used. */
  resolveReference(reference: string): Resolution {
    if (reference.startsWith('#')) return {ok: true, target: reference}
    if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) {
      const target = this.lookup('fullUrls', reference)
      return target ? {ok: true, target} : {ok: false, kind: 'dangling'}
    }
    if (/^[A-Z][A-Za-z]+\?/.test(reference)) {
      let key: string
      try {
        key = decodeURIComponent(reference)
      } catch {
        return {ok: false, kind: 'invalid'}
      }
      const target = this.lookup('identifiers', key)
      return target ? {ok: true, target} : {ok: false, kind: 'dangling'}
    }
    if (ABSOLUTE.test(reference)) {
      const declared = this.lookup('fullUrls', reference)
      if (declared) return {ok: true, target: declared}
      const base = this.localBases.find((b) => reference.startsWith(b))
      if (base) return this.resolveReference(reference.slice(base.length))
      return PATIENT_URL.test(reference) ? {ok: false, kind: 'foreign'} : {ok: true, target: reference}
    }
    const relative = RELATIVE.exec(reference)
    if (relative) return FHIR_ID.test(relative[2] as string) ? {ok: true, target: reference} : {ok: false, kind: 'invalid'}
    // Anything else (a bare id, a relative path with more segments): nothing medctl can attach.
    return {ok: false, kind: reference.includes('/') ? 'invalid' : 'dangling'}
  }

  /** The Type/id a reference stands for, the reference itself when it needs no resolving, or undefined. */
  resolve(reference: string): string | undefined {
    const resolution = this.resolveReference(reference)
    return resolution.ok ? resolution.target : undefined
  }
}

/** A reference that cannot be used: where it is (an element path, never its value) and why. */
export interface ReferenceProblem {
  path: string
  kind: 'dangling' | 'foreign' | 'invalid'
}

/** Rewrites every `reference` in a resource (iteratively); returns the references that resolve nowhere, by element path. */
export function rewriteReferences(resource: FhirResource, resolver: ReferenceResolver): ReferenceProblem[] {
  const problems: ReferenceProblem[] = []
  const stack: Array<[unknown, string]> = []
  for (const [key, value] of Object.entries(resource)) if (key !== 'contained') stack.push([value, key])
  while (stack.length > 0) {
    const [node, path] = stack.pop() as [unknown, string]
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, `${path}[${i}]`]))
      continue
    }
    if (!node || typeof node !== 'object') continue
    const record = node as Record<string, unknown>
    for (const [key, value] of Object.entries(record)) {
      if (key === 'reference' && typeof value === 'string') {
        const resolution = resolver.resolveReference(value)
        if (resolution.ok) record[key] = resolution.target
        else problems.push({path, kind: resolution.kind})
      } else if (typeof value === 'object' && value !== null) stack.push([value, `${path}.${key}`])
    }
  }
  return problems.sort((a, b) => a.path.localeCompare(b.path))
}

/** The id a bundle entry's resource takes when it has none: the uuid of its urn:uuid fullUrl. */
export function idFromFullUrl(fullUrl: unknown): string | undefined {
  const match = typeof fullUrl === 'string' ? /^urn:uuid:([0-9a-fA-F-]{36})$/.exec(fullUrl) : null
  return match?.[1]
}
