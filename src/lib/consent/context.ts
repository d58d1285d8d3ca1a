import type {Contract} from 'ethers'
import {MedctlError, usageError} from '../cli/errors.js'
import type {Session} from '../config/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import {custodianContext, type CustodianContext} from '../vault/custodian.js'
import {subjectForPatient} from '../vault/read.js'
import {epochOf, newNonce, registryContract, signGrant, submitGrant, type GrantResult} from './registry.js'
import {classesMask, PURPOSES, purposesMask, type Purpose} from './model.js'
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

/** The subject a command acts on: given as a pseudonym (a patient's own wallet), or derived from the patient's identifier (custodian). */
export async function subjectOf(session: Session, named: {subject?: string; patient?: string}): Promise<string> {
  if (named.subject) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(named.subject)) throw usageError('E_BAD_SUBJECT', '--subject is a 32-byte hex pseudonym (0x followed by 64 hex digits).')
    return named.subject.toLowerCase()
  }
  return subjectForPatient(await custodianContext(session), named.patient as string)
}

/** A grantee named by address or by local profile. */
export function granteeAddress(session: Session, nameOrAddress: string): string {
  if (/^0x[0-9a-fA-F]{40}$/.test(nameOrAddress)) return nameOrAddress
  const profile = session.profiles.find(nameOrAddress)
  if (!profile) throw new MedctlError('E_GRANTEE_NOT_FOUND', `"${nameOrAddress}" is neither an address nor a profile.`, {exitCode: 2})
  return session.keystore.info(profile.identity).address
}

/**
 * A grant the custodian signs for a patient without a wallet, submits, and records: its terms
 * (encrypted) once the chain has given it an id. The grant is made in the subject's current
 * revoke-all epoch and its signature expires in an hour.
 */
export async function grantForPatient(
  session: Session,
  custodian: CustodianContext,
  ctx: ConsentContext,
  q: {patient: string; subject: string; grantee: string; purposes: Purpose[]; classes: DataClass[]; notBefore: number; notAfter: number; confirmations?: number},
): Promise<GrantResult> {
  const consent = consentResource({...q, patient: {identifier: q.patient}})
  const salt = randomSalt()
  const termsHash = termsHashOf(salt, consent)
  const sealed = await sealTerms(custodian.recipient, salt, consent)
  const grant = {
    subject: q.subject,
    epoch: await epochOf(ctx.registry, q.subject),
    grantee: q.grantee,
    purposes: purposesMask(q.purposes),
    classes: classesMask(q.classes),
    notBefore: q.notBefore,
    notAfter: q.notAfter,
    termsHash,
    nonce: newNonce(),
    deadline: BigInt(ctx.now + 3600),
  }
  const signature = await signGrant(custodian.wallet, ctx.chainId, ctx.address, grant)
  const result = await submitGrant(ctx.registry, grant, signature, {confirmations: q.confirmations ?? 1})
  await session.chainWritten()
  storeTerms(custodian.db, custodian.address, [{consentId: result.consentId, subject: q.subject, termsHash, sealed}])
  return result
}

export {PURPOSES}
