import {createHmac} from 'node:crypto'

/**
 * The on-chain subject of a patient: HMAC-SHA256(pseudonymKey, "system|value") as bytes32 hex.
 * Without the custodian's pseudonym key nobody can link a subject to an identifier.
 */
export function subjectOf(pseudonymKey: Uint8Array, identifierKey: string): string {
  return `0x${createHmac('sha256', pseudonymKey).update(identifierKey, 'utf8').digest('hex')}`
}

/** Keyed, domain-separated hashes for local index keys (resource ids never sit in the index in clear). */
export function indexHash(pseudonymKey: Uint8Array, domain: 'ref' | 'resource', value: string): string {
  return createHmac('sha256', pseudonymKey).update(`medctl:${domain}:${value}`, 'utf8').digest('hex')
}
