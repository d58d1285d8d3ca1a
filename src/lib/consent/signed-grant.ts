import {getAddress, isHexString, verifyTypedData, type Signer} from 'ethers'
import {MedctlError, usageError} from '../core/errors.js'
import type {DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import {classesMask, purposeBit, type Purpose} from './model.js'
import {GRANT_TYPES, consentIdOf, newNonce, type GrantInput} from './registry.js'
import {grantDomain} from '../chain/registry.js'
import {consentResource, randomSalt, termsHashOf} from './terms.js'

export const SIGNED_GRANT_FORMAT = 'medctl.signed-grant.v1'

/**
 * A grant signed offline (EIP-712) by a patient's wallet or a custodian, for any relayer to
 * submit. It carries the terms (salt and FHIR Consent, naming the patient by pseudonym only) so
 * the relayer can check the terms hash; nothing in it is PHI.
 */
export interface SignedGrantFile {
  format: typeof SIGNED_GRANT_FORMAT
  domain: {name: string; version: string; chainId: number; verifyingContract: string}
  grant: {
    subject: string
    epoch: number
    grantee: string
    purpose: number
    classes: number
    notBefore: number
    notAfter: number
    termsHash: string
    nonce: string
    deadline: number
  }
  consentId: string
  signer: string
  signature: string
  terms: {salt: string; consent: FhirResource}
}

export interface SignGrantRequest {
  subject: string
  /** The subject's revoke-all epoch now (epochOf on the registry). */
  epoch: number
  grantee: string
  purpose: Purpose
  classes: readonly DataClass[]
  notBefore: number
  notAfter: number
  deadline: number
  chainId: number
  registry: string
}

export async function signGrantOffline(signer: Signer, q: SignGrantRequest): Promise<SignedGrantFile> {
  const consent = consentResource({
    patient: {subject: q.subject},
    grantee: q.grantee,
    purposes: [q.purpose],
    classes: q.classes,
    notBefore: q.notBefore,
    notAfter: q.notAfter,
  })
  const salt = randomSalt()
  const grant: GrantInput = {
    subject: q.subject,
    epoch: q.epoch,
    grantee: getAddress(q.grantee),
    purpose: purposeBit(q.purpose),
    classes: classesMask(q.classes),
    notBefore: q.notBefore,
    notAfter: q.notAfter,
    termsHash: termsHashOf(salt, consent),
    nonce: newNonce(),
    deadline: q.deadline,
  }
  const domain = grantDomain(q.chainId, q.registry)
  const signature = await signer.signTypedData(domain, GRANT_TYPES, grant)
  return {
    format: SIGNED_GRANT_FORMAT,
    domain: {name: domain.name as string, version: domain.version as string, chainId: q.chainId, verifyingContract: getAddress(q.registry)},
    grant: {...grant, nonce: `0x${grant.nonce.toString(16)}`},
    consentId: consentIdOf(grant),
    signer: await signer.getAddress(),
    signature,
    terms: {salt: salt.toString('hex'), consent},
  }
}

const bad = (message: string) => usageError('E_BAD_SIGNED_GRANT', `Not a medctl signed grant: ${message}`)
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0

/** Parses a signed-grant file and checks everything that can be checked without the chain. */
export function openSignedGrant(
  text: string,
  expected: {chainId: number; registry: string},
): {file: SignedGrantFile; grant: GrantInput; signer: string} {
  let file: SignedGrantFile
  try {
    file = JSON.parse(text) as SignedGrantFile
  } catch {
    throw bad('the file is not JSON.')
  }
  if (file?.format !== SIGNED_GRANT_FORMAT) throw bad(`format must be "${SIGNED_GRANT_FORMAT}".`)
  const g = file.grant ?? ({} as SignedGrantFile['grant'])
  if (!isHexString(g.subject, 32) || !isHexString(g.termsHash, 32)) throw bad('grant.subject and grant.termsHash must be 32-byte hex.')
  if (!/^0x[0-9a-fA-F]{40}$/.test(g.grantee ?? '')) throw bad('grant.grantee must be an address.')
  if (
    ![g.epoch, g.purpose, g.classes, g.notBefore, g.notAfter, g.deadline].every(isInt) ||
    g.purpose > 7 ||
    g.epoch >= 2 ** 24 ||
    [g.notBefore, g.notAfter, g.deadline].some((t) => t >= 2 ** 32) ||
    g.classes >= 2 ** 16
  )
    throw bad('grant.epoch, purpose (0-7), classes, notBefore, notAfter and deadline must be integers in range.')
  if (!/^0x[0-9a-f]{1,12}$/i.test(g.nonce ?? '')) throw bad('grant.nonce must be hex of at most 48 bits.')
  if (!isHexString(file.signature) || !file.terms?.salt || !file.terms.consent) throw bad('signature and terms are required.')
  const grant: GrantInput = {
    subject: g.subject,
    epoch: g.epoch,
    grantee: g.grantee,
    purpose: g.purpose,
    classes: g.classes,
    notBefore: g.notBefore,
    notAfter: g.notAfter,
    termsHash: g.termsHash,
    nonce: BigInt(g.nonce),
    deadline: g.deadline,
  }

  const d = file.domain
  if (d?.chainId !== expected.chainId || d.verifyingContract?.toLowerCase() !== expected.registry.toLowerCase()) {
    throw new MedctlError(
      'E_WRONG_CHAIN',
      `The grant was signed for chain ${d?.chainId} and registry ${d?.verifyingContract}, not this profile's chain ${expected.chainId} and registry ${expected.registry}.`,
      {
        exitCode: 2,
        suggestions: ['Submit it with a profile on the chain it was signed for, or sign it again for this one.'],
      },
    )
  }
  if (termsHashOf(Buffer.from(file.terms.salt, 'hex'), file.terms.consent) !== g.termsHash.toLowerCase()) {
    throw new MedctlError('E_TERMS_MISMATCH', "The terms in the file do not hash to the grant's terms hash: the file was altered.", {
      exitCode: 2,
    })
  }
  let signer: string
  try {
    signer = verifyTypedData(grantDomain(expected.chainId, expected.registry), GRANT_TYPES, grant, file.signature)
  } catch {
    throw new MedctlError('E_INVALID_SIGNER', 'The signature does not verify.', {exitCode: 1})
  }
  if (file.signer && signer.toLowerCase() !== file.signer.toLowerCase()) {
    throw new MedctlError(
      'E_INVALID_SIGNER',
      `The signature is ${signer}'s, not ${file.signer}'s as the file claims: the grant was altered after signing.`,
      {exitCode: 1},
    )
  }
  return {file, grant, signer}
}
