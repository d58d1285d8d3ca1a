import type {FhirResource} from './types.js'

/**
 * Resolves the references a Bundle uses to point at resources by something other than Type/id:
 * `urn:uuid:` fullUrls and conditional references (`Organization?identifier=system|value`). One
 * resolver is shared across the files of an import, so patient bundles can point at the
 * organisations and practitioners of an earlier bundle.
 */
export class ReferenceResolver {
  private readonly byFullUrl = new Map<string, string>()
  private readonly byIdentifier = new Map<string, string>()

  register(resource: FhirResource, fullUrl?: string): void {
    if (!resource.id) return
    const target = `${resource.resourceType}/${resource.id}`
    if (fullUrl) this.byFullUrl.set(fullUrl, target)
    for (const identifier of (resource.identifier as Array<{system?: string; value?: string}> | undefined) ?? []) {
      if (identifier.value === undefined) continue
      this.byIdentifier.set(`${resource.resourceType}?identifier=${identifier.system ?? ''}|${identifier.value}`, target)
      if (!identifier.system) this.byIdentifier.set(`${resource.resourceType}?identifier=${identifier.value}`, target)
    }
  }

  /** The Type/id a reference stands for, the reference itself when it needs no resolving, or undefined. */
  resolve(reference: string): string | undefined {
    if (reference.startsWith('urn:uuid:') || reference.startsWith('urn:oid:')) return this.byFullUrl.get(reference)
    if (/^[A-Z][A-Za-z]+\?/.test(reference)) return this.byIdentifier.get(decodeURIComponent(reference))
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
