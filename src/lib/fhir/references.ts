import {isReferenceData} from './data-classes.js'
import type {FhirResource} from './types.js'

/**
 * Resolves the references a Bundle uses to point at resources by something other than Type/id:
 * `urn:uuid:` fullUrls and conditional references (`Organization?identifier=system|value`). One
 * resolver is shared across the files of an import, so patient bundles can point at the
 * organisations and practitioners of an earlier bundle.
 */
export class ReferenceResolver {
  // Import-wide: reference data (organisations, practitioners…) and patients, whatever the file.
  private readonly globalFullUrls = new Map<string, string>()
  private readonly globalIdentifiers = new Map<string, string>()
  // Bundle-wide: everything else, forgotten when the bundle ends, so memory stays bounded by the
  // largest bundle and the reference data, not by the size of the import.
  private readonly localFullUrls = new Map<string, string>()
  private readonly localIdentifiers = new Map<string, string>()

  register(resource: FhirResource, fullUrl?: string): void {
    if (!resource.id) return
    const global = resource.resourceType === 'Patient' || isReferenceData(resource)
    const fullUrls = global ? this.globalFullUrls : this.localFullUrls
    const identifiers = global ? this.globalIdentifiers : this.localIdentifiers
    const target = `${resource.resourceType}/${resource.id}`
    if (fullUrl) fullUrls.set(fullUrl, target)
    for (const identifier of (resource.identifier as Array<{system?: string; value?: string}> | undefined) ?? []) {
      if (identifier.value === undefined) continue
      identifiers.set(`${resource.resourceType}?identifier=${identifier.system ?? ''}|${identifier.value}`, target)
      if (!identifier.system) identifiers.set(`${resource.resourceType}?identifier=${identifier.value}`, target)
    }
  }

  endBundle(): void {
    this.localFullUrls.clear()
    this.localIdentifiers.clear()
  }

  /** The Type/id a reference stands for, the reference itself when it needs no resolving, or undefined. */
  resolve(reference: string): string | undefined {
    if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) return this.localFullUrls.get(reference) ?? this.globalFullUrls.get(reference)
    if (/^[A-Z][A-Za-z]+\?/.test(reference)) {
      const key = decodeURIComponent(reference)
      return this.localIdentifiers.get(key) ?? this.globalIdentifiers.get(key)
    }
    return reference
  }
}

/** Rewrites every `reference` in a resource; returns the references that resolve nowhere. */
export function rewriteReferences(resource: FhirResource, resolver: ReferenceResolver): string[] {
  const dangling: string[] = []
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item)
      return
    }
    if (!node || typeof node !== 'object') return
    const record = node as Record<string, unknown>
    for (const [key, value] of Object.entries(record)) {
      if (key === 'reference' && typeof value === 'string') {
        const resolved = resolver.resolve(value)
        if (resolved === undefined) dangling.push(value)
        else record[key] = resolved
      } else if (typeof value === 'object') visit(value)
    }
  }
  for (const [key, value] of Object.entries(resource)) if (key !== 'contained') visit(value)
  return dangling
}

/** The id a bundle entry's resource takes when it has none: the uuid of its urn:uuid fullUrl. */
export function idFromFullUrl(fullUrl: string | undefined): string | undefined {
  const match = fullUrl ? /^urn:uuid:([0-9a-fA-F-]{36})$/.exec(fullUrl) : null
  return match?.[1]
}
