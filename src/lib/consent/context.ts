import {createHash, randomBytes} from 'node:crypto'
import canonicalize from 'canonicalize'
import type {Contract} from 'ethers'
import {MedctlError} from '../cli/errors.js'
import type {Session} from '../config/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import {encryptText} from '../vault/crypto.js'
import type {CustodianContext} from '../vault/custodian.js'
import {registryContract} from './registry.js'
import {PURPOSES, type Purpose} from './model.js'

export interface ConsentContext {
  registry: Contract
  address: string
  chainId: number
  /** The chain's time (latest block), which the contract decides with. */
  now: number
}

export async function consentContext(session: Session, options: {write: boolean}): Promise<ConsentContext> {
  const provider = await session.chainProvider()
  const address = session.registry()
  if ((await provider.getCode(address)) === '0x') {
    throw new MedctlError('E_NO_REGISTRY', `No ConsentRegistry at ${address} on this chain.`, {exitCode: 2, suggestions: ['Run `medctl contract deploy`.']})
  }
  const runner = options.write ? await session.signer() : provider
  const block = await provider.getBlock('latest')
  return {registry: registryContract(address, runner), address, chainId: session.profile.chain.chainId, now: block?.timestamp ?? Math.floor(Date.now() / 1000)}
}

/** A grantee named by address or by local profile. */
export function granteeAddress(session: Session, nameOrAddress: string): string {
  if (/^0x[0-9a-fA-F]{40}$/.test(nameOrAddress)) return nameOrAddress
  const profile = session.profiles.find(nameOrAddress)
  if (!profile) throw new MedctlError('E_GRANTEE_NOT_FOUND', `"${nameOrAddress}" is neither an address nor a profile.`, {exitCode: 2})
  return session.keystore.info(profile.identity).address
}

/**
 * The full consent as a FHIR R4 Consent, kept off chain: the chain holds only its salted hash.
 * The terms (they name the patient) are stored age-encrypted to the custodian.
 */
export async function recordTerms(custodian: CustodianContext, q: {patient: string; subject: string; grantee: string; purposes: Purpose[]; classes: DataClass[]; notBefore: number; notAfter: number}): Promise<{termsHash: string; store: (consentId: string) => void}> {
  const [system, value] = q.patient.split('|') as [string, string]
  const consent = {
    resourceType: 'Consent',
    status: 'active',
    scope: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy'}]},
    category: [{coding: [{system: 'http://loinc.org', code: '59284-0'}]}],
    patient: {identifier: {system, value}},
    dateTime: new Date(q.notBefore * 1000).toISOString(),
    provision: {
      type: 'permit',
      period: {start: new Date(q.notBefore * 1000).toISOString(), end: new Date(q.notAfter * 1000).toISOString()},
      actor: [{role: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP'}]}, reference: {identifier: {system: 'urn:ietf:rfc:3986', value: `urn:ethereum:${q.grantee}`}}}],
      purpose: q.purposes.map((code) => ({system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code})),
      class: q.classes.map((code) => ({system: 'https://medctl.dev/fhir/CodeSystem/data-class', code})),
    },
  }
  const salt = randomBytes(32)
  const termsHash = `0x${createHash('sha256').update(salt).update(canonicalize(consent) ?? '').digest('hex')}`
  const sealed = await encryptText(JSON.stringify({salt: salt.toString('hex'), consent}), custodian.recipient)
  return {
    termsHash,
    store(consentId) {
      custodian.db.exec('CREATE TABLE IF NOT EXISTS consent_terms (custodian TEXT NOT NULL, consent_id TEXT NOT NULL, subject TEXT NOT NULL, terms_enc BLOB NOT NULL, PRIMARY KEY (custodian, consent_id))')
      custodian.db.prepare('INSERT OR IGNORE INTO consent_terms (custodian, consent_id, subject, terms_enc) VALUES (?, ?, ?, ?)').run(custodian.address.toLowerCase(), consentId, q.subject, Buffer.from(sealed))
    },
  }
}

export {PURPOSES}
