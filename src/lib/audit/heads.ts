import {existsSync, readFileSync, appendFileSync} from 'node:fs'
import {join} from 'node:path'
import {verifyMessage, type Wallet} from 'ethers'

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
  return ['medctl audit tree head v1', `chain:${h.chainId}`, `registry:${h.registry.toLowerCase()}`, `size:${h.size}`, `root:${h.root}`, `last:${h.lastHash}`, `time:${h.time}`].join('\n')
}

export async function signHead(wallet: Wallet, head: Omit<SignedHead, 'signer' | 'signature' | 'anchor'>): Promise<SignedHead> {
  return {...head, signer: wallet.address, signature: await wallet.signMessage(headMessage(head))}
}

export function headSigner(head: SignedHead): string | undefined {
  try {
    return verifyMessage(headMessage(head), head.signature)
  } catch {
    return undefined
  }
}

export function readHeads(dir: string): SignedHead[] {
  const file = join(dir, 'heads.ndjson')
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as SignedHead)
}

export function appendHead(dir: string, head: SignedHead): void {
  appendFileSync(join(dir, 'heads.ndjson'), `${JSON.stringify(head)}\n`, {mode: 0o600})
}
