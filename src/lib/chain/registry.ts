import {bech32} from '@scure/base'
import {
  Contract,
  ContractFactory,
  getAddress,
  hexlify,
  id,
  verifyTypedData,
  type ContractRunner,
  type Signer,
  type TypedDataDomain,
} from 'ethers'
import type {ConsentRegistry, ConsentRegistryFunctions} from './consent-registry.types.js'
import {ExitCode, MedctlError} from '../core/errors.js'
import {loadArtifact} from './artifact.js'
import {chainRead, isTransientRpc, send, type SendOptions} from './client.js'
import {deploymentBlock, queryPaged} from './logs.js'

/*
 * The ConsentRegistry contract as plain chain access: the binding, deployment, the EIP-712 domain,
 * the key directory (age recipients) and audit anchors. Consent semantics (grants, decisions,
 * revokes) stay in src/lib/consent/registry.ts.
 */

export type {ConsentRegistry} from './consent-registry.types.js'

/** The registry at `address`, typed by its generated binding (the one cast: ethers' Contract is untyped). */
export function registryContract(address: string, runner: ContractRunner): ConsentRegistry {
  return new Contract(address, loadArtifact('ConsentRegistry').abi as never, runner) as unknown as ConsentRegistry
}

/**
 * The three views that say who the custodian of a registry is, bound by a minimal ABI so they work
 * on any deployment that has them (a verifier may be pointed at a registry of another version).
 */
export type CustodianViews = Pick<ConsentRegistryFunctions, 'custodian' | 'CUSTODIAN_ROLE' | 'hasRole'>

const CUSTODIAN_VIEW_ABI = [
  'function custodian() view returns (address)',
  'function CUSTODIAN_ROLE() view returns (bytes32)',
  'function hasRole(bytes32 role, address account) view returns (bool)',
]

export function custodianViews(address: string, runner: ContractRunner): CustodianViews {
  return new Contract(address, CUSTODIAN_VIEW_ABI, runner) as unknown as CustodianViews
}

/** A verifier's registry address names no contract on its chain: a usage error, said plainly. */
export function noRegistryContract(registry: string, chainId: number, block: number): MedctlError {
  return new MedctlError(
    'E_NO_REGISTRY_CONTRACT',
    `No contract at ${registry} on chain ${chainId} (block ${block}): the verifier's registry address is wrong or the chain is not the one it was deployed on.`,
    {exitCode: ExitCode.USAGE},
  )
}

/** The address custodian() names at `block`, or undefined when the deployment has no such view (a transient RPC error is thrown). */
export async function namedCustodianAt(views: CustodianViews, block: number): Promise<string | undefined> {
  try {
    return getAddress((await views.custodian.staticCall({blockTag: block})).toLowerCase())
  } catch (error) {
    if (isTransientRpc(error)) throw error
    return undefined
  }
}

/** CUSTODIAN_ROLE at `block` (its well-known value when the view is missing; a transient RPC error is thrown). */
export async function custodianRoleAt(views: CustodianViews, block: number): Promise<string> {
  try {
    return await views.CUSTODIAN_ROLE.staticCall({blockTag: block})
  } catch (error) {
    if (isTransientRpc(error)) throw error
    return id('CUSTODIAN_ROLE')
  }
}

export async function deployRegistry(signer: Signer): Promise<{address: string; txHash: string; blockNumber: number}> {
  const {abi, bytecode} = loadArtifact('ConsentRegistry')
  const factory = new ContractFactory(abi as never, bytecode, signer)
  const contract = await factory.deploy(await signer.getAddress())
  const receipt = await contract.deploymentTransaction()?.wait()
  return {address: await contract.getAddress(), txHash: receipt?.hash ?? '', blockNumber: receipt?.blockNumber ?? 0}
}

export const REGISTRY_DOMAIN_VERSION = '2'

export function grantDomain(chainId: number, registry: string): TypedDataDomain {
  return {name: 'medctl ConsentRegistry', version: REGISTRY_DOMAIN_VERSION, chainId, verifyingContract: registry}
}

/**
 * A claim attestation as EIP-712 typed data, in the registry's domain (so chain id and registry
 * address are signed too): the custodian signs the claim hash, the subject pseudonym and the payer.
 */
export const CLAIM_ATTESTATION_TYPES = {
  ClaimAttestation: [
    {name: 'claimHash', type: 'bytes32'},
    {name: 'subject', type: 'bytes32'},
    {name: 'payer', type: 'address'},
  ],
}

export interface ClaimAttestationValue {
  claimHash: string
  subject: string
  payer: string
}

export async function signClaimAttestation(
  signer: Signer,
  q: ClaimAttestationValue & {chainId: number; registry: string},
): Promise<string> {
  return signer.signTypedData(grantDomain(q.chainId, q.registry), CLAIM_ATTESTATION_TYPES, {
    claimHash: q.claimHash,
    subject: q.subject,
    payer: getAddress(q.payer),
  })
}

/** Who signed a claim attestation for this chain and registry, or undefined for a malformed signature. */
export function claimAttestationSigner(
  q: ClaimAttestationValue & {chainId: number; registry: string; signature: string},
): string | undefined {
  try {
    return getAddress(
      verifyTypedData(
        grantDomain(q.chainId, q.registry),
        CLAIM_ATTESTATION_TYPES,
        {claimHash: q.claimHash, subject: q.subject, payer: getAddress(q.payer)},
        q.signature,
      ),
    )
  } catch {
    return undefined
  }
}

/** The registry's `custodian()`: the account verifiers trust for what the custodian signs. */
export async function registryCustodian(registry: ConsentRegistry): Promise<string> {
  return getAddress(await chainRead(() => registry.custodian(), registry))
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

export async function publishRecipient(
  registry: ConsentRegistry,
  ageRecipient: string,
  options: SendOptions = {},
): Promise<{txHash: string}> {
  const sent = await send(registry, 'setRecipient', [recipientToBytes32(ageRecipient)], options)
  return {txHash: sent.txHash}
}

export async function lookupRecipient(registry: ConsentRegistry, address: string): Promise<string | undefined> {
  const value = await registry.recipientOf(getAddress(address))
  return /^0x0+$/.test(value) ? undefined : bytes32ToRecipient(value)
}

export async function anchorTreeHead(registry: ConsentRegistry, head: {size: number; root: string}, options: SendOptions = {}) {
  const sent = await send(registry, 'anchor', [head.size, head.root], options)
  const anchored = sent.receipt.logs
    .map((log) => {
      try {
        return registry.interface.parseLog(log)
      } catch {
        return null
      }
    })
    .find((p) => p?.name === 'Anchored')
  return {txHash: sent.txHash, blockNumber: sent.blockNumber, index: Number(anchored?.args.index ?? 0), gasUsed: sent.gasUsed.toString()}
}

export async function listAnchors(registry: ConsentRegistry, opts: {blockTag?: number; logRange?: number} = {}) {
  const overrides = opts.blockTag === undefined ? {} : {blockTag: opts.blockTag}
  const count = Number(await chainRead(() => registry.anchorCount(overrides), registry))
  const events =
    count === 0
      ? []
      : await queryPaged(registry, registry.filters.Anchored(), {
          fromBlock: await deploymentBlock(registry),
          ...(opts.blockTag === undefined ? {} : {toBlock: opts.blockTag}),
          ...(opts.logRange ? {range: opts.logRange} : {}),
        })
  const byIndex = new Map(events.map((e) => [Number((e as unknown as {args: {index: bigint}}).args.index), e]))
  const anchors = []
  for (let i = 0; i < count; i++) {
    const [by, size, root, timestamp] = await chainRead(() => registry.anchorAt(i, overrides), registry)
    const event = byIndex.get(i)
    anchors.push({
      index: i,
      by,
      size: Number(size),
      root,
      timestamp: Number(timestamp),
      ...(event ? {txHash: event.transactionHash, blockNumber: event.blockNumber} : {}),
    })
  }
  return anchors
}

export const RECIPIENT_TYPES = {
  Recipient: [
    {name: 'account', type: 'address'},
    {name: 'recipient', type: 'bytes32'},
    {name: 'nonce', type: 'uint256'},
    {name: 'deadline', type: 'uint32'},
  ],
}

/** A key-directory binding signed by its account, for any relayer to submit (no funds needed). */
export interface RecipientRegistration {
  account: string
  /** The age X25519 recipient (age1…). */
  recipient: string
  nonce: string
  deadline: number
  signature: string
}

export async function recipientNonce(registry: ConsentRegistry, account: string): Promise<bigint> {
  return chainRead(() => registry.recipientNonceOf(getAddress(account)), registry)
}

export async function signRecipientRegistration(
  signer: Signer,
  q: {chainId: number; registry: string; recipient: string; nonce: bigint; deadline: number},
): Promise<RecipientRegistration> {
  const account = await signer.getAddress()
  const value = {account, recipient: recipientToBytes32(q.recipient), nonce: q.nonce, deadline: q.deadline}
  const signature = await signer.signTypedData(grantDomain(q.chainId, q.registry), RECIPIENT_TYPES, value)
  return {account, recipient: q.recipient, nonce: q.nonce.toString(), deadline: q.deadline, signature}
}

export async function relayRecipientRegistration(
  registry: ConsentRegistry,
  reg: RecipientRegistration,
  options: SendOptions = {},
): Promise<{txHash: string; gasUsed: string}> {
  const sent = await send(
    registry,
    'setRecipientFor',
    [getAddress(reg.account), recipientToBytes32(reg.recipient), reg.deadline, reg.signature],
    options,
  )
  return {txHash: sent.txHash, gasUsed: sent.gasUsed.toString()}
}
