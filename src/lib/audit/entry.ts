import canonicalize from 'canonicalize'

/**
 * An audit entry carries the fields of a FHIR R4 AuditEvent as profiled by IHE BALP, in canonical
 * JSON (RFC 8785). Pseudonyms only: subjects are bytes32 HMACs, never identifiers or names.
 */
export const AUDIT_TYPES = ['consent-decision', 'key-release', 'fetch', 'grant', 'revoke', 'break-glass', 'review', 'opt-out', 'controller', 'import', 'upload', 'export', 'anchor', 'decrypt'] as const
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

const SUBTYPES: Record<AuditType, {code: string; display: string}> = {
  'consent-decision': {code: 'ITI-TBD-consent-decision', display: 'Consent decision'},
  'key-release': {code: 'key-release', display: 'Object keys released to a grantee'},
  fetch: {code: 'fetch', display: 'Records fetched under a grant'},
  grant: {code: 'grant', display: 'Consent granted'},
  revoke: {code: 'revoke', display: 'Consent revoked'},
  'break-glass': {code: 'break-glass', display: 'Emergency access opened'},
  review: {code: 'review', display: 'Emergency access reviewed'},
  'opt-out': {code: 'opt-out', display: 'Purpose opt-out'},
  controller: {code: 'controller', display: 'Consent controller set'},
  import: {code: 'import', display: 'Records imported'},
  upload: {code: 'upload', display: 'Records replicated'},
  export: {code: 'export', display: 'Data exported (research dataset or consents)'},
  anchor: {code: 'anchor', display: 'Audit tree head anchored'},
  decrypt: {code: 'decrypt', display: 'Records decrypted by the custodian'},
}

/** The entry as a FHIR R4 AuditEvent (IHE BALP shape), for `audit export --format fhir`. */
export function toFhirAuditEvent(entry: AuditEntry, index: number): Record<string, unknown> {
  const subtype = SUBTYPES[entry.type]
  const outcome = entry.outcome === 'success' ? '0' : entry.outcome === 'denied' ? '4' : '8'
  const entity: Array<Record<string, unknown>> = []
  if (entry.subject) entity.push({what: {identifier: {system: 'urn:medctl:subject', value: entry.subject}}, type: {system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1'}, role: {system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1'}})
  for (const cid of entry.cids ?? []) entity.push({what: {identifier: {system: 'urn:ipfs:cid', value: cid}}, type: {system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2'}})
  if (entry.consentId) entity.push({what: {identifier: {system: 'urn:medctl:consent', value: entry.consentId}}, type: {system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2'}, role: {system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '18'}})
  if (entry.classes?.length) entity.push({detail: [{type: 'classes', valueString: entry.classes.join(',')}]})
  return {
    resourceType: 'AuditEvent',
    id: `medctl-${index}`,
    meta: {profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead']},
    type: {system: 'http://dicom.nema.org/resources/ontology/DCM', code: entry.action === 'R' ? '110106' : '110110', display: entry.action === 'R' ? 'Export' : 'Patient Record'},
    subtype: [{system: 'https://medctl.dev/fhir/CodeSystem/audit-subtype', code: subtype.code, display: subtype.display}],
    action: entry.action,
    recorded: entry.recorded,
    outcome,
    ...(entry.reason ? {outcomeDesc: entry.reason} : {}),
    ...(entry.purpose ? {purposeOfEvent: [{coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: entry.purpose}]}]} : {}),
    agent: [{who: {identifier: {system: 'urn:ethereum:address', value: entry.actor.address}}, ...(entry.actor.profile ? {name: entry.actor.profile} : {}), requestor: true}],
    source: {observer: {identifier: {system: 'urn:ethereum:address', value: entry.custodian ?? entry.actor.address}}, type: [{system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4'}]},
    ...(entity.length ? {entity} : {}),
  }
}
