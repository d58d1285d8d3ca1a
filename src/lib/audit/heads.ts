import {existsSync, readFileSync, appendFileSync} from 'node:fs'
import {join} from 'node:path'
import {verifyMessage, type Wallet} from 'ethers'
import {ExitCode, MedctlError} from '../core/errors.js'

/** A tree head signed by the custodian key (EIP-191), and where it was anchored on chain. */
export interface SignedHead {
  size: number
  root: string
  lastHash: string
  time: string
  chainId: number
  registry: string
  signer: string
  signature: string
  anchor?: {index: number; txHash: string; blockNumber: number}
}

export function headMessage(h: Pick<SignedHead, 'size' | 'root' | 'lastHash' | 'time' | 'chainId' | 'registry'>): string {
  return [
    'medctl audit tree head v1',
    `chain:${h.chainId}`,
    `registry:${h.registry.toLowerCase()}`,
    `size:${h.size}`,
    `root:${h.root}`,
    `last:${h.lastHash}`,
    `time:${h.time}`,
  ].join('\n')
}

export async function signHead(wallet: Wallet, head: Omit<SignedHead, 'signer' | 'signature' | 'anchor'>): Promise<SignedHead> {
  return {...head, signer: wallet.address, signature: await wallet.signMessage(headMessage(head))}
}

/** The address that signed the head, or undefined when the signature is malformed. */
export function headSigner(head: SignedHead): string | undefined {
  try {
    return verifyMessage(headMessage(head), head.signature)
  } catch {
    return undefined
  }
}

const HASH32 = /^0x[0-9a-f]{64}$/i
const ADDRESS = /^0x[0-9a-f]{40}$/i

/** Why a value is not a well-formed signed head (shape only: the signature is checked elsewhere), or undefined. */
export function headShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const h = value as Record<string, unknown>
  if (!Number.isSafeInteger(h.size) || (h.size as number) < 0) return 'size is not a non-negative integer'
  if (typeof h.root !== 'string' || !HASH32.test(h.root)) return 'root is not a 32-byte hex hash'
  if (typeof h.lastHash !== 'string' || !/^(0x)?[0-9a-f]{64}$/i.test(h.lastHash)) return 'lastHash is not a 32-byte hex hash'
  if (typeof h.time !== 'string' || h.time.length > 64) return 'time is not a string'
  if (!Number.isSafeInteger(h.chainId) || (h.chainId as number) <= 0) return 'chainId is not a positive integer'
  if (typeof h.registry !== 'string' || !ADDRESS.test(h.registry)) return 'registry is not an address'
  if (typeof h.signer !== 'string' || !ADDRESS.test(h.signer)) return 'signer is not an address'
  if (typeof h.signature !== 'string' || !/^0x[0-9a-f]*$/i.test(h.signature)) return 'signature is missing or not hex'
  return undefined
}

export interface HeadsFile {
  heads: SignedHead[]
  /** Lines (from 1) that are not well-formed heads. */
  bad: Array<{line: number; problem: string}>
}

/** Every line of heads.ndjson, keeping the ones that are not well-formed heads apart (never throws on content). */
export function parseHeads(dir: string): HeadsFile {
  const file = join(dir, 'heads.ndjson')
  const out: HeadsFile = {heads: [], bad: []}
  if (!existsSync(file)) return out
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        out.bad.push({line: i + 1, problem: 'not JSON'})
        return
      }
      const problem = headShapeProblem(value)
      if (problem) out.bad.push({line: i + 1, problem})
      else out.heads.push(value as SignedHead)
    })
  return out
}

/** The heads, failing with E_BAD_HEAD (exit 4) when a line is not a well-formed head. */
export function readHeads(dir: string): SignedHead[] {
  const {heads, bad} = parseHeads(dir)
  const first = bad[0]
  if (first) {
    throw new MedctlError(
      'E_BAD_HEAD',
      `Line ${first.line} of the audit log's heads.ndjson is not a signed tree head (${first.problem}).`,
      {
        exitCode: ExitCode.VERIFY_FAILED,
        suggestions: ['Run `medctl audit verify`: the heads file was damaged or tampered with.'],
        details: {line: first.line},
      },
    )
  }
  return heads
}

export function appendHead(dir: string, head: SignedHead): void {
  appendFileSync(join(dir, 'heads.ndjson'), `${JSON.stringify(head)}\n`, {mode: 0o600})
}
