import canonicalize from 'canonicalize'

/**
 * An audit entry carries the fields of a FHIR R4 AuditEvent as profiled by IHE BALP, in canonical
 * JSON (RFC 8785). Pseudonyms only: subjects are bytes32 HMACs, never identifiers or names.
 */
export const AUDIT_TYPES = [
  'consent-decision',
  'key-release',
  'fetch',
  'grant',
  'revoke',
  'break-glass',
  'review',
  'opt-out',
  'controller',
  'import',
  'upload',
  'export',
  'anchor',
  'decrypt',
] as const
export type AuditType = (typeof AUDIT_TYPES)[number]

export interface AuditInput {
  type: AuditType
  action: 'C' | 'R' | 'U' | 'D' | 'E'
  outcome: 'success' | 'denied' | 'failure'
  reason?: string
  actor: {address: string; profile?: string}
  custodian?: string
  subject?: string
  cids?: string[]
  classes?: readonly string[]
  consentId?: string
  purpose?: string
  detail?: Record<string, string | number | boolean>
}

export interface AuditEntry extends Omit<AuditInput, 'classes'> {
  v: 1
  seq: number
  /** SHA-256 (hex) of the previous line as stored: a hash chain that pins an edit to its line. */
  prev: string
  recorded: string
  classes?: string[]
}

export const GENESIS = '0'.repeat(64)

export function buildEntry(input: AuditInput, seq: number, prev: string, recorded = new Date().toISOString()): AuditEntry {
  const entry: AuditEntry = {v: 1, seq, prev, recorded, ...input, classes: input.classes ? [...input.classes] : undefined}
  for (const key of Object.keys(entry) as Array<keyof AuditEntry>) if (entry[key] === undefined) delete entry[key]
  return entry
}

export function serializeEntry(entry: AuditEntry): Buffer {
  return Buffer.from(canonicalize(entry) ?? '', 'utf8')
}
