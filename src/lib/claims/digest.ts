import {createHash} from 'node:crypto'
import canonicalize from 'canonicalize'
import type {FhirResource} from '../fhir/index.js'

/**
 * What a claim attestation commits to. The claim hash that goes on chain is
 *
 *   SHA-256(canonical JSON of {type: "medctl.claim-attestation", v: 1, elements, supporting})
 *
 * where `elements` maps every leaf of the Claim (RFC 8785 canonical JSON, paths such as
 * `Claim.item[1].net.value`) to the SHA-256 of its canonical value, and `supporting` maps each
 * resource the Claim references in the patient's record (`Encounter/…`, `Procedure/…`) to the
 * SHA-256 of that resource's canonical JSON. Leaf hashes let a verifier name the element of a
 * claim that differs; supporting resources are committed whole (their contents belong to other
 * data classes than `claims`, so they never travel with the attestation).
 */
export interface ClaimDigest {
  elements: Record<string, string>
  supporting: Record<string, string>
}

export const ATTESTATION_TYPE = 'medctl.claim-attestation'

export function canonicalJson(value: unknown): string {
  return canonicalize(value) ?? 'null'
}

export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex')
}

/** SHA-256 of a resource's canonical JSON. */
export function resourceHash(resource: unknown): string {
  return sha256Hex(canonicalJson(resource))
}

/** Every leaf of a JSON value, by path (`Claim.item[0].net.value`), hashed. Empty objects and arrays are leaves. */
export function leafHashes(root: FhirResource): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      if (value.length === 0) out[path] = resourceHash(value)
      value.forEach((item, i) => walk(item, `${path}[${i}]`))
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value as Record<string, unknown>).sort()
      if (keys.length === 0) out[path] = resourceHash(value)
      for (const key of keys) walk((value as Record<string, unknown>)[key], `${path}.${key}`)
    } else {
      out[path] = resourceHash(value)
    }
  }
  walk(root, String(root.resourceType ?? 'Resource'))
  return out
}

const LOCAL_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/

/** The local references (`Type/id`) a Claim makes, the Patient's excepted, sorted, once each. */
export function claimReferences(claim: FhirResource): string[] {
  const refs = new Set<string>()
  const walk = (value: unknown, key?: string): void => {
    if (Array.isArray(value)) for (const item of value) walk(item)
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, k)
    else if (key === 'reference' && typeof value === 'string') {
      const match = LOCAL_REF.exec(value)
      if (match && match[1] !== 'Patient') refs.add(value)
    }
  }
  walk(claim)
  return [...refs].sort()
}

/** The 32-byte claim hash (0x-hex) over a digest. */
export function claimHashOf(digest: ClaimDigest): string {
  return `0x${sha256Hex(canonicalJson({type: ATTESTATION_TYPE, v: 1, elements: digest.elements, supporting: digest.supporting}))}`
}

/** Paths whose hashes differ, or that are in one digest only, sorted. */
export function differingElements(expected: Record<string, string>, actual: Record<string, string>): string[] {
  const paths = new Set([...Object.keys(expected), ...Object.keys(actual)])
  return [...paths].filter((p) => expected[p] !== actual[p]).sort()
}

export function referenceOf(resource: FhirResource): string | undefined {
  return typeof resource.resourceType === 'string' && typeof resource.id === 'string'
    ? `${resource.resourceType}/${resource.id}`
    : undefined
}

/** The key a claim is known by in a batch: `Claim/<id>`, or the hash of its canonical JSON when it has no id. */
export function claimKey(claim: FhirResource): string {
  return referenceOf(claim) ?? `Claim#${resourceHash(claim).slice(0, 16)}`
}
