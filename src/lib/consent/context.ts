import type {Contract} from 'ethers'
import {MedctlError} from '../cli/errors.js'
import type {Session} from '../config/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import type {CustodianContext} from '../vault/custodian.js'
import {registryContract} from './registry.js'
import {PURPOSES, type Purpose} from './model.js'
import {consentResource, randomSalt, sealTerms, storeTerms, termsHashOf} from './terms.js'

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

/** Builds the grant's FHIR Consent, its salted hash for the chain, and stores it (encrypted) once the consent id is known. */
export async function recordTerms(custodian: CustodianContext, q: {patient: string; subject: string; grantee: string; purposes: Purpose[]; classes: DataClass[]; notBefore: number; notAfter: number}): Promise<{termsHash: string; store: (consentId: string) => void}> {
  const consent = consentResource({...q, patient: {identifier: q.patient}})
  const salt = randomSalt()
  const sealed = await sealTerms(custodian.recipient, salt, consent)
  return {
    termsHash: termsHashOf(salt, consent),
    store: (consentId) => storeTerms(custodian.db, custodian.address, [{consentId, subject: q.subject, sealed}]),
  }
}

export {PURPOSES}
