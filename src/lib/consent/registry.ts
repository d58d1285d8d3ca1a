import {randomBytes} from 'node:crypto'
import {AbiCoder, dataSlice, getAddress, keccak256, type Signer, type TransactionReceipt} from 'ethers'
import {chainRead, send, type SendOptions, type Sent} from '../chain/client.js'
import {grantDomain, type ConsentRegistry} from '../chain/registry.js'
import {MedctlError} from '../core/errors.js'
import type {DataClass} from '../fhir/data-classes.js'
import {classesMask, decisionFromChain, purposeBit, type CheckResult, type Purpose} from './model.js'

export interface GrantInput {
  subject: string
  /** The subject's revoke-all epoch (epochOf): a revoke-all voids grants made in earlier epochs. */
  epoch: number
  grantee: string
  /** One purpose of use, as its bit index (model.ts `purposeBit`). */
  purpose: number
  classes: number
  notBefore: number
  notAfter: number
  termsHash: string
  /** 48 bits; orders the grants of a (subject, grantee, purpose) scope: only a higher one replaces. */
  nonce: bigint
  deadline: number
}

export const GRANT_TYPES = {
  Grant: [
    {name: 'subject', type: 'bytes32'},
    {name: 'epoch', type: 'uint24'},
    {name: 'grantee', type: 'address'},
    {name: 'purpose', type: 'uint8'},
    {name: 'classes', type: 'uint16'},
    {name: 'notBefore', type: 'uint32'},
    {name: 'notAfter', type: 'uint32'},
    {name: 'termsHash', type: 'bytes32'},
    {name: 'nonce', type: 'uint48'},
    {name: 'deadline', type: 'uint32'},
  ],
}

const NONCE_LIMIT = 1n << 48n

/**
 * A fresh nonce: milliseconds since 1970 × 64 plus 6 random bits (fits 48 bits until 2109), so a
 * grant signed later orders after one signed earlier, on any machine; above `floor` when given
 * (the scope's current nonce).
 */
export function newNonce(floor?: bigint): bigint {
  const timed = BigInt(Date.now()) * 64n + BigInt((randomBytes(1)[0] as number) % 64)
  const nonce = floor !== undefined && timed <= floor ? floor + 1n : timed
  if (nonce >= NONCE_LIMIT) throw new MedctlError('E_NONCE_RANGE', 'The nonce does not fit 48 bits.')
  return nonce
}

/** A nonce fixed by a point in time (ms) and a digest: re-derivable, ordered by the time. */
export function nonceAt(ms: number, digest: Buffer): bigint {
  const nonce = BigInt(Math.max(0, Math.floor(ms))) * 64n + BigInt((digest[0] as number) % 64)
  if (nonce >= NONCE_LIMIT) throw new MedctlError('E_NONCE_RANGE', 'The consent date is out of range.')
  return nonce
}

/** EIP-712 signature of a grant, by the subject's controller (patient wallet) or a custodian. */
export async function signGrant(signer: Signer, chainId: number, registry: string, grant: GrantInput): Promise<string> {
  return signer.signTypedData(grantDomain(chainId, registry), GRANT_TYPES, grant)
}

/**
 * The consent id the contract assigns: the first 12 bytes of keccak256 over the grant without its
 * deadline, then the nonce (6 bytes) and the classes (2 bytes) — the top of the stored record.
 */
export function consentIdOf(g: GrantInput): string {
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ['bytes32', 'uint24', 'address', 'uint8', 'uint16', 'uint32', 'uint32', 'bytes32', 'uint48'],
    [g.subject, g.epoch, g.grantee, g.purpose, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce],
  )
  const tag = dataSlice(keccak256(encoded), 0, 12)
  return `${tag}${g.nonce.toString(16).padStart(12, '0')}${g.classes.toString(16).padStart(4, '0')}`.toLowerCase()
}

/** The storage key of a (subject, grantee, purpose) scope: one current consent each. */
export function scopeOf(subject: string, grantee: string, purpose: number): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(['bytes32', 'address', 'uint8'], [subject, grantee, purpose]))
}

/** The packed record the contract stores per scope (and emits in `Granted`). */
export interface ConsentRecordFields {
  consentId: string
  nonce: bigint
  classes: number
  notBefore: number
  notAfter: number
  epoch: number
  purpose: number
  revoked: boolean
  byController: boolean
}

export function decodeRecord(record: bigint): ConsentRecordFields {
  const consentId = `0x${(record >> 96n).toString(16).padStart(40, '0')}`
  return {
    consentId,
    nonce: (record >> 112n) & (NONCE_LIMIT - 1n),
    classes: Number((record >> 96n) & 0xffffn),
    notBefore: Number((record >> 64n) & 0xffffffffn),
    notAfter: Number((record >> 32n) & 0xffffffffn),
    epoch: Number((record >> 8n) & 0xffffffn),
    purpose: Number((record >> 2n) & 7n),
    revoked: (record & 1n) === 1n,
    byController: (record & 2n) === 2n,
  }
}

export interface CurrentConsent {
  consentId: string | undefined
  nonce: bigint
  notBefore: number
  notAfter: number
  classes: number
  /** Revoked, or voided by a revoke-all. */
  revoked: boolean
}

/** The current consent of a (subject, grantee, purpose) scope. */
export async function currentConsent(
  registry: ConsentRegistry,
  subject: string,
  grantee: string,
  purpose: number,
  blockTag?: number,
): Promise<CurrentConsent> {
  const [consentId, nonce, notBefore, notAfter, classes, revoked] = await chainRead(
    () => registry.consentOf(subject, grantee, purpose, blockTag === undefined ? {} : {blockTag}),
    registry,
  )
  return {
    consentId: /^0x0+$/.test(consentId) ? undefined : consentId.toLowerCase(),
    nonce,
    notBefore: Number(notBefore),
    notAfter: Number(notAfter),
    classes: Number(classes),
    revoked,
  }
}

function toTuple(g: GrantInput) {
  return [g.subject, g.epoch, g.grantee, g.purpose, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce, g.deadline]
}

/** The contract's BatchGrant: small fields packed into `terms` (see ConsentRegistry.sol). */
function toBatchTuple(g: GrantInput) {
  const terms =
    (g.nonce << 112n) |
    (BigInt(g.notBefore) << 80n) |
    (BigInt(g.notAfter) << 48n) |
    (BigInt(g.classes) << 32n) |
    (BigInt(g.purpose) << 24n) |
    BigInt(g.epoch)
  return [g.subject, g.grantee, terms, g.termsHash]
}

/** The consent id a `Granted` log carries (the top 160 bits of its record). */
export function grantedConsentId(record: bigint): string {
  return decodeRecord(record).consentId
}

export interface GrantResult {
  consentId: string
  txHash: string
  blockNumber: number
  gasUsed: string
  noop: boolean
}

function parsedLogs(registry: ConsentRegistry, receipt: TransactionReceipt) {
  return receipt.logs.flatMap((log) => {
    try {
      const parsed = registry.interface.parseLog(log)
      return parsed ? [parsed] : []
    } catch {
      return []
    }
  })
}

export async function submitGrant(
  registry: ConsentRegistry,
  grant: GrantInput,
  signature: string,
  options: SendOptions = {},
): Promise<GrantResult> {
  const consentId = consentIdOf(grant)
  const sent = await send(registry, 'grantScopedWithClasses', [toTuple(grant), signature], options)
  const granted = parsedLogs(registry, sent.receipt).some((p) => p.name === 'Granted')
  return {consentId, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString(), noop: !granted}
}

export const REJECTION_CODES: Record<string, string> = {
  Revoked: 'E_CONSENT_REVOKED',
  Expired: 'E_CONSENT_EXPIRED',
  TooLong: 'E_DURATION_TOO_LONG',
  BadWindow: 'E_BAD_WINDOW',
  OptedOut: 'E_OPTED_OUT',
  Empty: 'E_EMPTY_GRANT',
  Superseded: 'E_CONSENT_SUPERSEDED',
  NonceUsed: 'E_NONCE_USED',
}

export interface BatchResult {
  txHash: string
  blockNumber: number
  gasUsed: string
  granted: string[]
  rejected: Array<{index: number; reason: string}>
}

const REJECTIONS = ['None', 'Revoked', 'Expired', 'TooLong', 'BadWindow', 'OptedOut', 'Empty', 'Superseded', 'NonceUsed']

export async function grantBatch(registry: ConsentRegistry, grants: GrantInput[], options: SendOptions = {}): Promise<BatchResult> {
  const sent = await send(registry, 'grantBatchedSubjectClasses', [grants.map(toBatchTuple)], options)
  return batchOutcome(registry, sent)
}

export function batchOutcome(registry: ConsentRegistry, sent: Sent): BatchResult {
  const granted: string[] = []
  const rejected: BatchResult['rejected'] = []
  for (const parsed of parsedLogs(registry, sent.receipt)) {
    if (parsed.name === 'Granted') granted.push(grantedConsentId(parsed.args.record as bigint))
    if (parsed.name === 'GrantRejected')
      rejected.push({index: Number(parsed.args.index), reason: REJECTIONS[Number(parsed.args.reason)] ?? 'Unknown'})
  }
  return {txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString(), granted, rejected}
}

export async function checkConsent(
  registry: ConsentRegistry,
  q: {subject: string; grantee: string; purpose: Purpose; classes: readonly DataClass[]; blockTag?: number},
): Promise<CheckResult> {
  const [decision, reason, consentId] = await chainRead(
    () =>
      registry.check(
        q.subject,
        q.grantee,
        purposeBit(q.purpose),
        classesMask(q.classes),
        q.blockTag === undefined ? {} : {blockTag: q.blockTag},
      ),
    registry,
  )
  return decisionFromChain(decision, reason, consentId)
}

/** Revokes the current consent of a scope: as a custodian (by scope) or as the subject's controller. */
export async function revokeConsent(
  registry: ConsentRegistry,
  q: {subject: string; grantee: string; purpose: number; asController?: boolean},
  options: SendOptions = {},
) {
  const sent = q.asController
    ? await send(registry, 'revokeAsController', [q.subject, q.grantee, q.purpose], options)
    : await send(registry, 'revokeByExactPurpose', [scopeOf(q.subject, q.grantee, q.purpose)], options)
  const revoked = parsedLogs(registry, sent.receipt).find((p) => p.name === 'Revoked')
  return {
    consentId: revoked ? (revoked.args.consentId as string).toLowerCase() : undefined,
    txHash: sent.txHash,
    blockNumber: sent.blockNumber,
    gasUsed: sent.gasUsed.toString(),
    resumed: sent.resumed,
  }
}

export async function revokeAll(registry: ConsentRegistry, subject: string, options: SendOptions = {}) {
  const sent = await send(registry, 'revokeAll', [subject], options)
  return {subject, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function setController(registry: ConsentRegistry, subject: string, controller: string, options: SendOptions = {}) {
  const sent = await send(registry, 'setController', [subject, controller], options)
  return {subject, controller, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

/** A subject's controller, revoke-all epoch and opted-out purposes mask. */
export async function subjectState(
  registry: ConsentRegistry,
  subject: string,
  blockTag?: number,
): Promise<{controller: string | undefined; epoch: number; optOuts: number}> {
  const [controller, epoch, optOuts] = await chainRead(
    () => registry.subjectOf(subject, blockTag === undefined ? {} : {blockTag}),
    registry,
  )
  return {controller: /^0x0+$/.test(controller) ? undefined : controller, epoch: Number(epoch), optOuts: Number(optOuts)}
}

export async function epochOf(registry: ConsentRegistry, subject: string): Promise<number> {
  return (await subjectState(registry, subject)).epoch
}

export async function controllerOf(registry: ConsentRegistry, subject: string): Promise<string | undefined> {
  return (await subjectState(registry, subject)).controller
}

export async function optOut(registry: ConsentRegistry, subject: string, purposes: number, options: SendOptions = {}) {
  const sent = await send(registry, 'optOut', [subject, purposes], options)
  return {subject, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function openBreakGlass(
  registry: ConsentRegistry,
  q: {subject: string; grantee: string; hours: number; reasonHash: string},
  options: SendOptions = {},
) {
  const sent = await send(registry, 'openBreakGlass', [q.subject, q.grantee, q.hours, q.reasonHash], options)
  const opened = sent.receipt.logs
    .map((log) => {
      try {
        return registry.interface.parseLog(log)
      } catch {
        return null
      }
    })
    .find((p) => p?.name === 'BreakGlassOpened')
  return {
    accessId: opened?.args.accessId as string,
    until: Number(opened?.args.until),
    txHash: sent.txHash,
    blockNumber: sent.blockNumber,
    gasUsed: sent.gasUsed.toString(),
  }
}

export async function reviewBreakGlass(registry: ConsentRegistry, accessId: string, approved: boolean, options: SendOptions = {}) {
  const sent = await send(registry, 'reviewBreakGlass', [accessId, approved], options)
  return {accessId, approved, txHash: sent.txHash, blockNumber: sent.blockNumber}
}

/** A claim attestation on chain (payer, time, subject pseudonym), or undefined. */
export async function attestationOf(
  registry: ConsentRegistry,
  claimHash: string,
): Promise<{payer: string; attestedAt: number; subject: string} | undefined> {
  const [payer, attestedAt, subject] = await chainRead(() => registry.attestationOf(claimHash), registry)
  return attestedAt === 0n ? undefined : {payer: getAddress(payer), attestedAt: Number(attestedAt), subject: subject.toLowerCase()}
}

/** The custodian attests a claim hash for a payer (once per hash: E_CLAIM_ALREADY_ATTESTED). */
export async function attestClaim(
  registry: ConsentRegistry,
  q: {claimHash: string; subject: string; payer: string},
  options: SendOptions = {},
): Promise<{txHash: string; blockNumber: number; gasUsed: string}> {
  const sent = await send(registry, 'attestClaim', [q.claimHash, q.subject, getAddress(q.payer)], options)
  return {txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}
