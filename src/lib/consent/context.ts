import type {ConsentRegistry} from '../chain/registry.js'
import {chainRead, type SendOptions} from '../chain/client.js'
import {TxJournal} from '../chain/journal.js'
import {MedctlError, usageError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {openDatabase} from '../db/database.js'
import {subjectForPatient} from '../vault/read.js'
import {registryContract} from '../chain/registry.js'

export interface ConsentContext {
  registry: ConsentRegistry
  address: string
  chainId: number
  /** The chain's time (latest block), which the contract decides with. */
  now: number
  /** The latest block number when the context was made. */
  head: number
  /** Signed transactions, kept before broadcast (write contexts only). */
  journal?: TxJournal
  /** Send options every write uses: the journal, and how long to wait for a receipt. */
  send: SendOptions
}

export async function consentContext(session: Session, options: {write: boolean}): Promise<ConsentContext> {
  const provider = await session.chainProvider()
  const address = session.registry()
  const code = await chainRead(() => provider.getCode(address))
  if (code === '0x') {
    throw new MedctlError('E_NO_REGISTRY', `No ConsentRegistry at ${address} on this chain.`, {
      exitCode: 2,
      suggestions: ['Run `medctl contract deploy`.'],
    })
  }
  const runner = options.write ? await session.signer() : provider
  const block = await chainRead(() => provider.getBlock('latest'))
  const journal = options.write ? new TxJournal(openDatabase(session.paths)) : undefined
  return {
    registry: registryContract(address, runner),
    address,
    chainId: session.profile.chain.chainId,
    now: block?.timestamp ?? Math.floor(Date.now() / 1000),
    head: block?.number ?? 0,
    ...(journal ? {journal} : {}),
    send: {...(journal ? {journal} : {}), waitTimeoutMs: Math.max(30_000, session.rpcTimeoutMs * 12)},
  }
}

/** A block to read at: E_BLOCK_NOT_FOUND past the head rather than the node's raw error. */
export function assertBlock(ctx: Pick<ConsentContext, 'head'>, block: number | undefined): void {
  if (block !== undefined && block > ctx.head) {
    throw new MedctlError('E_BLOCK_NOT_FOUND', `Block ${block} is past the chain's head (${ctx.head}).`, {
      exitCode: 2,
      suggestions: [`Use --at-block ${ctx.head} or lower.`],
    })
  }
}

/** The subject a command acts on: given as a pseudonym (a patient's own wallet), or derived from the patient's identifier (custodian). */
export async function subjectOf(session: Session, named: {subject?: string; patient?: string}): Promise<string> {
  if (named.subject) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(named.subject))
      throw usageError('E_BAD_SUBJECT', '--subject is a 32-byte hex pseudonym (0x followed by 64 hex digits).')
    return named.subject.toLowerCase()
  }
  return subjectForPatient(await custodianContext(session), named.patient as string)
}

/** The local profile names of addresses (lower-case), to show people names they know. */
export function profileNamesByAddress(session: Session): Map<string, string> {
  const names = new Map<string, string>()
  for (const profile of session.profiles.list()) {
    try {
      names.set(session.keystore.info(profile.identity).address.toLowerCase(), profile.name)
    } catch {
      // a profile whose identity is missing names no address
    }
  }
  return names
}

/** A grantee named by address or by local profile. */
export function granteeAddress(session: Session, nameOrAddress: string): string {
  if (/^0x[0-9a-fA-F]{40}$/.test(nameOrAddress)) return nameOrAddress
  const profile = session.profiles.find(nameOrAddress)
  if (!profile) throw new MedctlError('E_GRANTEE_NOT_FOUND', `"${nameOrAddress}" is neither an address nor a profile.`, {exitCode: 2})
  return session.keystore.info(profile.identity).address
}
