import {randomBytes} from 'node:crypto'
import {bech32} from '@scure/base'
import {AbiCoder, Contract, ContractFactory, dataSlice, getAddress, hexlify, keccak256, type ContractRunner, type Signer, type TypedDataDomain} from 'ethers'
import {loadArtifact} from '../chain/artifact.js'
import {decodeChainError, send, type SendOptions} from '../chain/client.js'
import type {DataClass} from '../fhir/data-classes.js'
import {classesMask, decisionFromChain, purposeBit, type CheckResult, type Purpose} from './model.js'

export function registryContract(address: string, runner: ContractRunner): Contract {
  return new Contract(address, loadArtifact('ConsentRegistry').abi as never, runner)
}

export async function deployRegistry(signer: Signer): Promise<{address: string; txHash: string; blockNumber: number}> {
  const {abi, bytecode} = loadArtifact('ConsentRegistry')
  const factory = new ContractFactory(abi as never, bytecode, signer)
  const contract = await factory.deploy(await signer.getAddress())
  const receipt = await contract.deploymentTransaction()?.wait()
  return {address: await contract.getAddress(), txHash: receipt?.hash ?? '', blockNumber: receipt?.blockNumber ?? 0}
}

export interface GrantInput {
  subject: string
  /** The subject's revoke-all epoch (epochOf): a revoke-all voids grants made in earlier epochs. */
  epoch: number
  grantee: string
  purposes: number
  classes: number
  notBefore: number
  notAfter: number
  termsHash: string
  nonce: bigint
  deadline: bigint
}

export const GRANT_TYPES = {
  Grant: [
    {name: 'subject', type: 'bytes32'},
    {name: 'epoch', type: 'uint32'},
    {name: 'grantee', type: 'address'},
    {name: 'purposes', type: 'uint8'},
    {name: 'classes', type: 'uint16'},
    {name: 'notBefore', type: 'uint32'},
    {name: 'notAfter', type: 'uint32'},
    {name: 'termsHash', type: 'bytes32'},
    {name: 'nonce', type: 'uint256'},
    {name: 'deadline', type: 'uint256'},
  ],
}

export function grantDomain(chainId: number, registry: string): TypedDataDomain {
  return {name: 'medctl ConsentRegistry', version: '1', chainId, verifyingContract: registry}
}

export function newNonce(): bigint {
  return BigInt(hexlify(randomBytes(32)))
}

/** EIP-712 signature of a grant, by the subject's controller (patient wallet) or a custodian. */
export async function signGrant(signer: Signer, chainId: number, registry: string, grant: GrantInput): Promise<string> {
  return signer.signTypedData(grantDomain(chainId, registry), GRANT_TYPES, grant)
}

/** The consent id the contract will assign: the first 20 bytes of keccak256 over the grant without its deadline. */
export function consentIdOf(g: GrantInput): string {
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ['bytes32', 'uint32', 'address', 'uint8', 'uint16', 'uint32', 'uint32', 'bytes32', 'uint256'],
    [g.subject, g.epoch, g.grantee, g.purposes, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce],
  )
  return dataSlice(keccak256(encoded), 0, 20)
}

/** The current consent of a (subject, grantee) pair. */
export async function currentConsent(registry: Contract, subject: string, grantee: string): Promise<{consentId: string | undefined; revoked: boolean}> {
  const [consentId, , , , , revoked] = (await registry.consentOf(subject, grantee)) as [string, bigint, bigint, bigint, bigint, boolean]
  return {consentId: /^0x0+$/.test(consentId) ? undefined : consentId.toLowerCase(), revoked}
}

function toTuple(g: GrantInput) {
  return [g.subject, g.epoch, g.grantee, g.purposes, g.classes, g.notBefore, g.notAfter, g.termsHash, g.nonce, g.deadline]
}

export interface GrantResult {
  consentId: string
  txHash: string
  blockNumber: number
  gasUsed: string
  noop: boolean
}

export async function submitGrant(registry: Contract, grant: GrantInput, signature: string, options: SendOptions = {}): Promise<GrantResult> {
  const consentId = consentIdOf(grant)
  const sent = await send(registry, 'grant', [toTuple(grant), signature], options)
  const granted = sent.receipt.logs.some((log) => {
    try {
      return registry.interface.parseLog(log)?.name === 'Granted'
    } catch {
      return false
    }
  })
  return {consentId, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString(), noop: !granted}
}

export const REJECTION_CODES: Record<string, string> = {
  Revoked: 'E_CONSENT_REVOKED',
  Expired: 'E_CONSENT_EXPIRED',
  TooLong: 'E_DURATION_TOO_LONG',
  BadWindow: 'E_BAD_WINDOW',
  OptedOut: 'E_OPTED_OUT',
  Empty: 'E_EMPTY_GRANT',
}

export interface BatchResult {
  txHash: string
  blockNumber: number
  gasUsed: string
  granted: string[]
  rejected: Array<{index: number; reason: string}>
}

const REJECTIONS = ['None', 'Revoked', 'Expired', 'TooLong', 'BadWindow', 'OptedOut', 'Empty']

export async function grantBatch(registry: Contract, grants: GrantInput[], options: SendOptions = {}): Promise<BatchResult> {
  const sent = await send(registry, 'grantBatch', [grants.map(toTuple)], options)
  const granted: string[] = []
  const rejected: BatchResult['rejected'] = []
  for (const log of sent.receipt.logs) {
    let parsed
    try {
      parsed = registry.interface.parseLog(log)
    } catch {
      continue
    }
    if (parsed?.name === 'Granted') granted.push(parsed.args.consentId as string)
    if (parsed?.name === 'GrantRejected') rejected.push({index: Number(parsed.args.index), reason: REJECTIONS[Number(parsed.args.reason)] ?? 'Unknown'})
  }
  return {txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString(), granted, rejected}
}

export async function checkConsent(registry: Contract, q: {subject: string; grantee: string; purpose: Purpose; classes: readonly DataClass[]; blockTag?: number}): Promise<CheckResult> {
  try {
    const [decision, reason, consentId] = (await registry.check(q.subject, q.grantee, purposeBit(q.purpose), classesMask(q.classes), q.blockTag === undefined ? {} : {blockTag: q.blockTag})) as [bigint, bigint, string]
    return decisionFromChain(decision, reason, consentId)
  } catch (error) {
    throw decodeChainError(registry, error)
  }
}

export async function revokeConsent(registry: Contract, subject: string, grantee: string, consentId: string, options: SendOptions = {}) {
  const sent = await send(registry, 'revoke', [subject, grantee, consentId], options)
  return {consentId, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function revokeAll(registry: Contract, subject: string, options: SendOptions = {}) {
  const sent = await send(registry, 'revokeAll', [subject], options)
  return {subject, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function setController(registry: Contract, subject: string, controller: string, options: SendOptions = {}) {
  const sent = await send(registry, 'setController', [subject, controller], options)
  return {subject, controller, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function epochOf(registry: Contract, subject: string): Promise<number> {
  return Number((await registry.epochOf(subject)) as bigint)
}

export async function controllerOf(registry: Contract, subject: string): Promise<string | undefined> {
  const controller = (await registry.controllerOf(subject)) as string
  return /^0x0+$/.test(controller) ? undefined : controller
}

export async function optOut(registry: Contract, subject: string, purposes: number, options: SendOptions = {}) {
  const sent = await send(registry, 'optOut', [subject, purposes], options)
  return {subject, txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function openBreakGlass(registry: Contract, q: {subject: string; grantee: string; hours: number; reasonHash: string}, options: SendOptions = {}) {
  const sent = await send(registry, 'openBreakGlass', [q.subject, q.grantee, q.hours, q.reasonHash], options)
  const opened = sent.receipt.logs.map((log) => {
    try {
      return registry.interface.parseLog(log)
    } catch {
      return null
    }
  }).find((p) => p?.name === 'BreakGlassOpened')
  return {accessId: opened?.args.accessId as string, until: Number(opened?.args.until), txHash: sent.txHash, blockNumber: sent.blockNumber, gasUsed: sent.gasUsed.toString()}
}

export async function reviewBreakGlass(registry: Contract, accessId: string, approved: boolean, options: SendOptions = {}) {
  const sent = await send(registry, 'reviewBreakGlass', [accessId, approved], options)
  return {accessId, approved, txHash: sent.txHash, blockNumber: sent.blockNumber}
}

/** age1… ⇄ the 32-byte X25519 public key stored on chain. */
export function recipientToBytes32(recipient: string): string {
  const {prefix, bytes} = bech32.decodeToBytes(recipient)
  if (prefix !== 'age' || bytes.length !== 32) throw new Error('not an age X25519 recipient')
  return hexlify(bytes)
}

export function bytes32ToRecipient(value: string): string {
  return bech32.encodeFromBytes('age', Buffer.from(value.replace(/^0x/, ''), 'hex'))
}

export async function publishRecipient(registry: Contract, ageRecipient: string, options: SendOptions = {}): Promise<{txHash: string}> {
  const sent = await send(registry, 'setRecipient', [recipientToBytes32(ageRecipient)], options)
  return {txHash: sent.txHash}
}

export async function lookupRecipient(registry: Contract, address: string): Promise<string | undefined> {
  const value = (await registry.recipientOf(getAddress(address))) as string
  return /^0x0+$/.test(value) ? undefined : bytes32ToRecipient(value)
}

export async function anchorTreeHead(registry: Contract, head: {size: number; root: string}, options: SendOptions = {}) {
  const sent = await send(registry, 'anchor', [head.size, head.root], options)
  const anchored = sent.receipt.logs.map((log) => {
    try {
      return registry.interface.parseLog(log)
    } catch {
      return null
    }
  }).find((p) => p?.name === 'Anchored')
  return {txHash: sent.txHash, blockNumber: sent.blockNumber, index: Number(anchored?.args.index ?? 0), gasUsed: sent.gasUsed.toString()}
}

export async function listAnchors(registry: Contract, opts: {blockTag?: number} = {}) {
  const overrides = opts.blockTag === undefined ? {} : {blockTag: opts.blockTag}
  const count = Number(await registry.anchorCount(overrides))
  const events = await registry.queryFilter(registry.filters.Anchored(), 0, opts.blockTag ?? 'latest')
  const byIndex = new Map(events.map((e) => [Number((e as unknown as {args: {index: bigint}}).args.index), e]))
  const anchors = []
  for (let i = 0; i < count; i++) {
    const [by, size, root, timestamp] = (await registry.anchorAt(i, overrides)) as [string, bigint, string, bigint]
    const event = byIndex.get(i)
    anchors.push({index: i, by, size: Number(size), root, timestamp: Number(timestamp), ...(event ? {txHash: event.transactionHash, blockNumber: event.blockNumber} : {})})
  }
  return anchors
}
