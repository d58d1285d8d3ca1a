import {createHash, createHmac, randomBytes} from 'node:crypto'
import canonicalize from 'canonicalize'
import type {DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import type {Db} from '../db/database.js'
import {decryptText, encryptText} from '../vault/crypto.js'
import type {Purpose} from './model.js'

/**
 * The full consent is a FHIR R4 Consent kept off chain: the chain holds only its salted hash (the
 * terms hash). The terms name the patient, so they are stored age-encrypted to the custodian.
 */
export const DATA_CLASS_SYSTEM = 'https://medctl.dev/fhir/CodeSystem/data-class'
export const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason'
export const SUBJECT_SYSTEM = 'urn:medctl:subject'
export const CONSENT_ID_SYSTEM = 'urn:medctl:consent'

export interface TermsInput {
  /** The patient as system|value, or only the subject pseudonym when the signer does not know more. */
  patient: {identifier: string} | {subject: string}
  grantee: string
  purposes: readonly Purpose[]
  classes: readonly DataClass[]
  notBefore: number
  notAfter: number
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

export function consentResource(q: TermsInput): FhirResource {
  let patient: {identifier: {system: string; value: string}}
  if ('identifier' in q.patient) {
    const bar = q.patient.identifier.indexOf('|')
    patient = {identifier: {system: q.patient.identifier.slice(0, bar), value: q.patient.identifier.slice(bar + 1)}}
  } else {
    patient = {identifier: {system: SUBJECT_SYSTEM, value: q.patient.subject}}
  }
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy'}]},
    category: [{coding: [{system: 'http://loinc.org', code: '59284-0'}]}],
    patient,
    policyRule: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN'}]},
    ...(q.notBefore > 0 ? {dateTime: iso(q.notBefore)} : {}),
    provision: {
      type: 'permit',
      period: {...(q.notBefore > 0 ? {start: iso(q.notBefore)} : {}), end: iso(q.notAfter)},
      actor: [
        {
          role: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP'}]},
          reference: {identifier: {system: 'urn:ietf:rfc:3986', value: `urn:ethereum:${q.grantee}`}},
        },
      ],
      purpose: q.purposes.map((code) => ({system: PURPOSE_SYSTEM, code})),
      class: q.classes.map((code) => ({system: DATA_CLASS_SYSTEM, code})),
    },
  }
}

/** SHA-256(salt ‖ RFC 8785 canonical JSON of the Consent), as bytes32 hex. */
export function termsHashOf(salt: Uint8Array, consent: FhirResource): string {
  return `0x${createHash('sha256')
    .update(salt)
    .update(canonicalize(consent) ?? '')
    .digest('hex')}`
}

export function randomSalt(): Buffer {
  return randomBytes(32)
}

/**
 * A salt derived from the consent itself under the custodian's pseudonym key: importing the same
 * Consent again yields the same terms hash (and so the same consent id), which is what makes bulk
 * imports idempotent, while nobody without the key can test a guess against the on-chain hash.
 */
export function derivedSalt(pseudonymKey: Uint8Array, consent: FhirResource, grantee: string): Buffer {
  return createHmac('sha256', pseudonymKey)
    .update(`medctl:consent-salt:${grantee.toLowerCase()}:`)
    .update(canonicalize(consent) ?? '')
    .digest()
}

export interface StoredTerms {
  consentId: string
  subject: string
  salt: string
  consent: FhirResource
}

function ensureTable(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS consent_terms (custodian TEXT NOT NULL, consent_id TEXT NOT NULL, subject TEXT NOT NULL, terms_hash TEXT NOT NULL, terms_enc BLOB NOT NULL, PRIMARY KEY (custodian, consent_id));
    CREATE INDEX IF NOT EXISTS consent_terms_hash ON consent_terms (custodian, terms_hash);`)
}

/** Terms are sealed (encrypted) before the grant is sent and stored once its id is on chain. */
export async function sealTerms(recipient: string, salt: Uint8Array, consent: FhirResource): Promise<Uint8Array> {
  return encryptText(JSON.stringify({salt: Buffer.from(salt).toString('hex'), consent}), recipient)
}

export function storeTerms(
  db: Db,
  custodian: string,
  rows: ReadonlyArray<{consentId: string; subject: string; termsHash: string; sealed: Uint8Array}>,
): void {
  ensureTable(db)
  const insert = db.prepare(
    'INSERT OR IGNORE INTO consent_terms (custodian, consent_id, subject, terms_hash, terms_enc) VALUES (?, ?, ?, ?, ?)',
  )
  db.transaction(() => {
    for (const row of rows)
      insert.run(custodian.toLowerCase(), row.consentId.toLowerCase(), row.subject, row.termsHash.toLowerCase(), Buffer.from(row.sealed))
  })()
}

/** Whether a consent with these terms was ever granted from this vault (in any revoke-all epoch). */
export function termsGranted(db: Db, custodian: string, termsHash: string): boolean {
  ensureTable(db)
  return (
    db
      .prepare('SELECT 1 FROM consent_terms WHERE custodian = ? AND terms_hash = ?')
      .get(custodian.toLowerCase(), termsHash.toLowerCase()) !== undefined
  )
}

/** Every stored consent's terms, decrypted with the custodian's age identity. */
export async function* readTerms(
  db: Db,
  custodian: string,
  identity: string,
  filter: {subject?: string} = {},
): AsyncGenerator<StoredTerms> {
  ensureTable(db)
  const rows = db
    .prepare(
      `SELECT consent_id AS consentId, subject, terms_enc AS sealed FROM consent_terms WHERE custodian = ?${filter.subject ? ' AND subject = ?' : ''} ORDER BY rowid`,
    )
    .all(...[custodian.toLowerCase(), ...(filter.subject ? [filter.subject] : [])]) as Array<{
    consentId: string
    subject: string
    sealed: Buffer
  }>
  for (const row of rows) {
    const {salt, consent} = JSON.parse(await decryptText(row.sealed, identity)) as {salt: string; consent: FhirResource}
    yield {consentId: row.consentId, subject: row.subject, salt, consent}
  }
}
