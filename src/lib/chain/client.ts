import {type Contract, type ContractTransactionResponse, type TransactionReceipt} from 'ethers'
import {ExitCode, MedctlError, type ExitCodeValue} from '../cli/errors.js'

/** Custom errors of ConsentRegistry (and OpenZeppelin's) → stable medctl codes. */
const REVERTS: Record<string, {code: string; exitCode: ExitCodeValue; message: string}> = {
  SignatureExpired: {code: 'E_SIGNATURE_EXPIRED', exitCode: ExitCode.FAILURE, message: 'The signed grant is past its deadline.'},
  InvalidSigner: {code: 'E_INVALID_SIGNER', exitCode: ExitCode.FAILURE, message: 'The grant is not signed by the subject\'s controller or a custodian (or was signed for another chain or contract).'},
  ConsentRevoked: {code: 'E_CONSENT_REVOKED', exitCode: ExitCode.DENIED, message: 'This consent was revoked; revocation is final.'},
  ConsentExpired: {code: 'E_CONSENT_EXPIRED', exitCode: ExitCode.USAGE, message: 'The consent would already be expired.'},
  DurationTooLong: {code: 'E_DURATION_TOO_LONG', exitCode: ExitCode.USAGE, message: 'The consent lasts longer than its purpose allows.'},
  BadWindow: {code: 'E_BAD_WINDOW', exitCode: ExitCode.USAGE, message: 'The validity window is empty (until must be after from).'},
  EmptyGrant: {code: 'E_EMPTY_GRANT', exitCode: ExitCode.USAGE, message: 'A grant needs a grantee, at least one purpose and one class.'},
  OptedOutOfPurpose: {code: 'E_OPTED_OUT', exitCode: ExitCode.DENIED, message: 'The patient opted out of this purpose.'},
  NotAuthorized: {code: 'E_NOT_AUTHORIZED', exitCode: ExitCode.FAILURE, message: 'Only a custodian or the subject\'s controller may do this.'},
  AccessControlUnauthorizedAccount: {code: 'E_NOT_AUTHORIZED', exitCode: ExitCode.FAILURE, message: 'This account lacks the role the contract requires.'},
  UnknownConsent: {code: 'E_UNKNOWN_CONSENT', exitCode: ExitCode.USAGE, message: 'No such current consent for this subject and grantee.'},
  UnknownAccess: {code: 'E_UNKNOWN_ACCESS', exitCode: ExitCode.USAGE, message: 'No such break-glass access.'},
  LengthMismatch: {code: 'E_USAGE', exitCode: ExitCode.USAGE, message: 'Batch arrays differ in length.'},
  BadAnchor: {code: 'E_BAD_ANCHOR', exitCode: ExitCode.FAILURE, message: 'An anchor may not shrink the log.'},
}

/** Turns a contract revert or an RPC error into a MedctlError with a stable code. */
export function decodeChainError(contract: Contract, error: unknown): MedctlError {
  if (error instanceof MedctlError) return error
  const e = error as {code?: string; data?: string; revert?: {name?: string}; info?: {error?: {data?: string}}; shortMessage?: string; message?: string}
  let name = e.revert?.name
  const data = e.data ?? e.info?.error?.data
  if (!name && typeof data === 'string' && data.startsWith('0x') && data.length >= 10) {
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
  if (e.code === 'NONCE_EXPIRED') return new MedctlError('E_NONCE_USED', 'The transaction nonce was already used; retry the command.', {cause: error})
  if (e.code === 'INSUFFICIENT_FUNDS') return new MedctlError('E_INSUFFICIENT_FUNDS', 'The wallet cannot pay the gas.', {cause: error, suggestions: ['Fund the profile\'s address.']})
  if (isTransientRpc(error)) return new MedctlError('E_RPC_UNAVAILABLE', `The chain did not answer: ${e.shortMessage ?? e.message}`, {cause: error, suggestions: ['Check the node (medctl node status) or the profile\'s chain.rpcUrl.']})
  return new MedctlError('E_CHAIN', `The chain refused the call: ${e.shortMessage ?? e.message ?? String(error)}`, {cause: error})
}

export function isTransientRpc(error: unknown): boolean {
  const e = error as {code?: string; message?: string; cause?: {code?: string}}
  if (e?.code === 'TIMEOUT' || e?.code === 'NETWORK_ERROR' || e?.code === 'SERVER_ERROR') return true
  const code = e?.cause?.code
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'UND_ERR_SOCKET'].includes(code)) return true
  return /ECONNREFUSED|ECONNRESET|socket hang up|fetch failed/i.test(e?.message ?? '')
}

export interface SendOptions {
  confirmations?: number
  retries?: number
}

export interface Sent {
  txHash: string
  blockNumber: number
  gasUsed: bigint
  receipt: TransactionReceipt
}

/**
 * Sends one contract transaction: retries transient RPC failures before it is accepted (with the
 * same nonce, so a retry can never double-send), waits for the confirmations, decodes reverts.
 */
export async function send(contract: Contract, method: string, args: unknown[], options: SendOptions = {}): Promise<Sent> {
  const retries = options.retries ?? 3
  let lastError: unknown
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const fn = contract.getFunction(method)
      const response = (await fn.send(...args)) as ContractTransactionResponse
      const receipt = await response.wait(options.confirmations ?? 1)
      if (!receipt) throw new MedctlError('E_CHAIN', 'The transaction was dropped.')
      return {txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed, receipt}
    } catch (error) {
      lastError = error
      if (!isTransientRpc(error) || attempt === retries) break
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt))
    }
  }
  throw decodeChainError(contract, lastError)
}
