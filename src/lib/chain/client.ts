import {keccak256, type BaseContract, type JsonRpcProvider, type Provider, type TransactionReceipt, type TransactionRequest} from 'ethers'
import {ExitCode, MedctlError, type ExitCodeValue} from '../core/errors.js'
import type {JournalRow, TxJournal} from './journal.js'

/** Custom errors of ConsentRegistry (and OpenZeppelin's) → stable medctl codes. */
const REVERTS: Record<string, {code: string; exitCode: ExitCodeValue; message: string}> = {
  SignatureExpired: {code: 'E_SIGNATURE_EXPIRED', exitCode: ExitCode.FAILURE, message: 'The signed grant is past its deadline.'},
  InvalidSigner: {
    code: 'E_INVALID_SIGNER',
    exitCode: ExitCode.FAILURE,
    message: "The grant is not signed by the subject's controller or a custodian (or was signed for another chain or contract).",
  },
  ConsentRevoked: {
    code: 'E_CONSENT_REVOKED',
    exitCode: ExitCode.DENIED,
    message: 'This consent was revoked (or voided by a revoke-all); revocation is final.',
  },
  ConsentSuperseded: {
    code: 'E_CONSENT_SUPERSEDED',
    exitCode: ExitCode.DENIED,
    message: 'A newer consent for the same patient, grantee and purpose is on chain; an older grant can never take its place back.',
  },
  NonceUsed: {
    code: 'E_NONCE_USED',
    exitCode: ExitCode.DENIED,
    message: "This grant's nonce was already used for other terms; a signature is used once.",
  },
  ConsentExpired: {code: 'E_CONSENT_EXPIRED', exitCode: ExitCode.USAGE, message: 'The consent would already be expired.'},
  DurationTooLong: {code: 'E_DURATION_TOO_LONG', exitCode: ExitCode.USAGE, message: 'The consent lasts longer than its purpose allows.'},
  BadWindow: {code: 'E_BAD_WINDOW', exitCode: ExitCode.USAGE, message: 'The validity window is empty (until must be after from).'},
  EmptyGrant: {code: 'E_EMPTY_GRANT', exitCode: ExitCode.USAGE, message: 'A grant needs a grantee, one purpose and at least one class.'},
  OptedOutOfPurpose: {code: 'E_OPTED_OUT', exitCode: ExitCode.DENIED, message: 'The patient opted out of this purpose.'},
  NotAuthorized: {
    code: 'E_NOT_AUTHORIZED',
    exitCode: ExitCode.FAILURE,
    message: "Only a custodian or the subject's controller may do this.",
  },
  AccessControlUnauthorizedAccount: {
    code: 'E_NOT_AUTHORIZED',
    exitCode: ExitCode.FAILURE,
    message: 'This account lacks the role the contract requires.',
  },
  UnknownConsent: {code: 'E_UNKNOWN_CONSENT', exitCode: ExitCode.USAGE, message: 'No consent for this patient, grantee and purpose.'},
  UnknownAccess: {code: 'E_UNKNOWN_ACCESS', exitCode: ExitCode.USAGE, message: 'No such break-glass access.'},
  BadAnchor: {code: 'E_BAD_ANCHOR', exitCode: ExitCode.FAILURE, message: 'An anchor may not shrink the log.'},
  EpochOverflow: {code: 'E_EPOCH_OVERFLOW', exitCode: ExitCode.FAILURE, message: 'This subject was revoked-all too many times.'},
  ClaimAlreadyAttested: {
    code: 'E_CLAIM_ALREADY_ATTESTED',
    exitCode: ExitCode.VERIFY_FAILED,
    message: 'This claim was attested before: a claim is attested once.',
  },
}

const rpcUnavailable = (error: unknown, detail: string): MedctlError =>
  new MedctlError('E_RPC_UNAVAILABLE', `The chain did not answer: ${detail}`, {
    cause: error,
    suggestions: ["Check the node (medctl node status) or the profile's chain.rpcUrl; --rpc-timeout sets how long to wait."],
  })

/** Turns a contract revert or an RPC error into a MedctlError with a stable code. */
export function decodeChainError(contract: Pick<BaseContract, 'interface'> | undefined, error: unknown): MedctlError {
  if (error instanceof MedctlError) return error
  const e = error as {
    code?: string
    data?: string
    revert?: {name?: string}
    info?: {error?: {data?: string; message?: string}}
    shortMessage?: string
    message?: string
  }
  let name = e.revert?.name
  const data = e.data ?? e.info?.error?.data
  if (!name && contract && typeof data === 'string' && data.startsWith('0x') && data.length >= 10) {
    try {
      name = contract.interface.parseError(data)?.name
    } catch {
      name = undefined
    }
  }
  if (name && REVERTS[name]) {
    const known = REVERTS[name]
    return new MedctlError(known.code, known.message, {exitCode: known.exitCode, cause: error})
  }
  if (e.code === 'INSUFFICIENT_FUNDS')
    return new MedctlError('E_INSUFFICIENT_FUNDS', 'The wallet cannot pay the gas.', {
      cause: error,
      suggestions: ["Fund the profile's address."],
    })
  if (isTransientRpc(error)) return rpcUnavailable(error, e.shortMessage ?? e.message ?? String(error))
  if (/header not found|unknown block|block not found|BlockOutOfRange/i.test(`${e.message ?? ''} ${e.info?.error?.message ?? ''}`)) {
    return new MedctlError('E_BLOCK_NOT_FOUND', 'The chain has no such block (yet).', {exitCode: ExitCode.USAGE, cause: error})
  }
  return new MedctlError('E_CHAIN', `The chain refused the call: ${e.shortMessage ?? e.message ?? String(error)}`, {cause: error})
}

const TRANSIENT_CODES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]

export function isTransientRpc(error: unknown): boolean {
  const e = error as {
    code?: string
    message?: string
    shortMessage?: string
    cause?: {code?: string; message?: string}
    error?: {code?: string}
  }
  if (e?.code === 'TIMEOUT' || e?.code === 'NETWORK_ERROR' || e?.code === 'SERVER_ERROR') return true
  for (const code of [e?.code, e?.cause?.code, e?.error?.code]) if (code && TRANSIENT_CODES.includes(code)) return true
  return /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket hang up|fetch failed|timeout|network error|bad response/i.test(
    `${e?.message ?? ''} ${e?.shortMessage ?? ''} ${e?.cause?.message ?? ''}`,
  )
}

/** Runs one read against the chain, turning RPC failures into stable codes. */
export async function chainRead<T>(read: () => Promise<T>, contract?: Pick<BaseContract, 'interface'>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    throw decodeChainError(contract, error)
  }
}

export interface SendOptions {
  confirmations?: number
  /** Broadcast retries of the same signed bytes on transient RPC failures. */
  retries?: number
  /** Where the signed transaction is kept before broadcast (exactly-once across runs). */
  journal?: TxJournal
  /** What the transaction does; a re-run with the same intent finishes the open one instead of sending anew. */
  intent?: string
  /** Kept with the journalled transaction, for the caller to finish its bookkeeping on a re-run. */
  payload?: string
  /** How long to wait for the receipt (the transaction stays journalled when this runs out). */
  waitTimeoutMs?: number
}

export interface Sent {
  txHash: string
  blockNumber: number
  gasUsed: bigint
  receipt: TransactionReceipt
  /** True when this run found the transaction journalled by an earlier run and finished it. */
  resumed: boolean
}

interface TxSigner {
  getAddress(): Promise<string>
  signTransaction(tx: TransactionRequest): Promise<string>
  provider: Provider | null
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function alreadySent(error: unknown): boolean {
  const e = error as {code?: string; message?: string; info?: {error?: {message?: string}}}
  if (e?.code === 'NONCE_EXPIRED' || e?.code === 'REPLACEMENT_UNDERPRICED') return true
  return /already known|already imported|known transaction|nonce too low|replacement transaction underpriced/i.test(
    `${e?.message ?? ''} ${e?.info?.error?.message ?? ''}`,
  )
}

async function broadcast(provider: Provider, raw: string, retries: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await provider.broadcastTransaction(raw)
      return
    } catch (error) {
      // The node already has it (a lost response to an earlier broadcast): that is the success we wanted.
      if (alreadySent(error)) return
      if (!isTransientRpc(error) || attempt >= retries) throw error
      await sleep(250 * 2 ** attempt)
    }
  }
}

/**
 * Waits for the receipt of a journalled transaction, re-broadcasting its bytes when the node
 * lost it. 'dropped' when another transaction took its nonce (it can then never be mined).
 */
async function awaitReceipt(
  provider: Provider,
  row: Pick<JournalRow, 'hash' | 'raw' | 'from' | 'nonce'>,
  options: SendOptions,
): Promise<TransactionReceipt | 'dropped'> {
  const deadline = Date.now() + (options.waitTimeoutMs ?? 120_000)
  let delay = 50
  let rebroadcastAt = Date.now() + 5000
  for (;;) {
    try {
      const receipt = await provider.getTransactionReceipt(row.hash)
      if (receipt) {
        const confirmations = options.confirmations ?? 1
        if (confirmations <= 1 || (await receipt.confirmations()) >= confirmations) return receipt
      } else if ((await provider.getTransactionCount(row.from, 'latest')) > row.nonce) {
        const late = await provider.getTransactionReceipt(row.hash)
        return late ?? 'dropped'
      } else if (Date.now() >= rebroadcastAt) {
        await broadcast(provider, row.raw, 0).catch(() => undefined)
        rebroadcastAt = Date.now() + 5000
      }
    } catch (error) {
      if (!isTransientRpc(error)) throw error
    }
    if (Date.now() >= deadline) {
      throw new MedctlError('E_TX_PENDING', `Transaction ${row.hash} was sent and is not mined yet.`, {
        details: {txHash: row.hash, nonce: row.nonce},
        suggestions: ['Re-run the same command: medctl finds the journalled transaction and finishes it instead of sending another.'],
      })
    }
    await sleep(delay)
    delay = Math.min(delay * 2, 1000)
  }
}

function sentFrom(receipt: TransactionReceipt, resumed: boolean): Sent {
  return {txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, receipt, resumed}
}

/**
 * Finishes a journalled transaction: re-broadcasts the same bytes if needed and waits for it.
 * Returns undefined when it was dropped (its nonce went to another transaction).
 */
export async function settleJournalled(
  provider: Provider,
  journal: TxJournal,
  row: JournalRow,
  options: SendOptions = {},
): Promise<Sent | undefined> {
  const outcome = await awaitReceipt(provider, row, options)
  if (outcome === 'dropped') {
    journal.settle(row.hash, 'dropped')
    return undefined
  }
  journal.settle(row.hash, outcome.status === 1 ? 'mined' : 'reverted', outcome.blockNumber)
  return sentFrom(outcome, true)
}

async function pinnedNonce(provider: Provider, from: string): Promise<number> {
  return provider.getTransactionCount(from, 'pending')
}

async function feeFields(provider: Provider): Promise<Partial<TransactionRequest>> {
  const fee = await provider.getFeeData()
  if (fee.maxFeePerGas !== null && fee.maxPriorityFeePerGas !== null)
    return {type: 2, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas}
  return {type: 0, gasPrice: fee.gasPrice ?? 0n}
}

/**
 * Sends one contract transaction exactly once. The nonce is pinned and the signed bytes are
 * journalled before the broadcast; every retry (a lost response, a reset connection, a re-run
 * after a crash) re-broadcasts those same bytes, which the chain can include only once. Reverts
 * are decoded from the gas estimate, before anything is signed.
 */
export async function send(contract: BaseContract, method: string, args: unknown[], options: SendOptions = {}): Promise<Sent> {
  const signer = contract.runner as unknown as TxSigner
  const provider = signer?.provider
  if (!provider || typeof signer.signTransaction !== 'function')
    throw new MedctlError('E_NO_SIGNER', 'Sending a transaction needs an unlocked identity.')
  try {
    const from = await signer.getAddress()
    const chainId = Number((await provider.getNetwork()).chainId)
    const {journal} = options
    if (journal) {
      if (options.intent) {
        const open = journal.unfinished(chainId, options.intent)
        if (open) {
          const settled =
            open.status === 'signed' ? await settleJournalled(provider, journal, open, options) : await receiptOf(provider, open)
          if (settled && settled.receipt.status === 1) return settled
          journal.finish(open.hash)
        }
      }
      // Whatever an earlier run left open for this sender goes first, with its own nonce.
      for (const row of journal.open(chainId, from)) await settleJournalled(provider, journal, row, options)
    }
    const populated = await contract.getFunction(method).populateTransaction(...args)
    const estimate = await provider.estimateGas({...populated, from})
    const tx: TransactionRequest = {
      to: populated.to,
      data: populated.data,
      chainId,
      nonce: await pinnedNonce(provider, from),
      gasLimit: (estimate * 6n) / 5n + 5_000n,
      ...(await feeFields(provider)),
    }
    const raw = await signer.signTransaction(tx)
    const hash = keccak256(raw)
    const row = {
      hash,
      chainId,
      from,
      nonce: tx.nonce as number,
      raw,
      method,
      intent: options.intent ?? null,
      payload: options.payload ?? null,
    }
    journal?.record(row)
    await broadcast(provider, raw, options.retries ?? 3)
    const outcome = await awaitReceipt(provider, row, options)
    if (outcome === 'dropped') {
      journal?.settle(hash, 'dropped')
      throw new MedctlError('E_TX_DROPPED', `Transaction ${hash} was replaced by another with the same nonce.`, {
        suggestions: ['Re-run the command.'],
      })
    }
    journal?.settle(hash, outcome.status === 1 ? 'mined' : 'reverted', outcome.blockNumber)
    if (outcome.status !== 1)
      throw new MedctlError('E_CHAIN_REVERTED', `Transaction ${hash} was mined but reverted.`, {details: {txHash: hash}})
    return sentFrom(outcome, false)
  } catch (error) {
    throw decodeChainError(contract, error)
  }
}

async function receiptOf(provider: Provider, row: JournalRow): Promise<Sent | undefined> {
  const receipt = await provider.getTransactionReceipt(row.hash)
  return receipt ? sentFrom(receipt, true) : undefined
}

/** A provider whose every request gives up after `timeoutMs` (E_RPC_UNAVAILABLE, not a hang). */
export async function timedProvider(rpcUrl: string, chainId: number | undefined, timeoutMs: number): Promise<JsonRpcProvider> {
  const {FetchRequest, JsonRpcProvider} = await import('ethers')
  const request = new FetchRequest(rpcUrl)
  request.timeout = timeoutMs
  return new JsonRpcProvider(request, chainId, {staticNetwork: chainId !== undefined, cacheTimeout: -1})
}
