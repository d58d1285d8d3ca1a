import type {BaseContract, ContractEventName, EventLog, Log} from 'ethers'
import type {ConsentRegistry} from './consent-registry.types.js'
import {chainRead} from './client.js'

/** Default widest block range of one eth_getLogs: real providers (Besu, Geth, hosted L2s) cap it. */
export const DEFAULT_LOG_RANGE = 5000

export interface LogScan {
  /** The first block to scan (the registry's deployment block). */
  fromBlock: number
  /** The last block (default: the head). */
  toBlock?: number
  /** Blocks per eth_getLogs request. */
  range?: number
}

/**
 * Event logs of a contract over [fromBlock, toBlock] in pages of at most `range` blocks; a page a
 * provider refuses as too wide is split in two and retried, down to one block.
 */
export async function queryPaged(contract: BaseContract, event: ContractEventName, scan: LogScan): Promise<Array<EventLog | Log>> {
  const provider = contract.runner?.provider
  const head = scan.toBlock ?? (await chainRead(() => (provider as NonNullable<typeof provider>).getBlockNumber()))
  const range = Math.max(1, scan.range ?? DEFAULT_LOG_RANGE)
  const out: Array<EventLog | Log> = []
  let from = Math.max(0, scan.fromBlock)
  let width = range
  while (from <= head) {
    const to = Math.min(head, from + width - 1)
    try {
      out.push(...(await contract.queryFilter(event, from, to)))
      from = to + 1
      width = range
    } catch (error) {
      if (width > 1 && tooWide(error)) {
        width = Math.max(1, Math.floor(width / 2))
        continue
      }
      throw await chainRead(() => Promise.reject(error), contract).catch((e: unknown) => e)
    }
  }
  return out
}

function tooWide(error: unknown): boolean {
  const e = error as {message?: string; info?: {error?: {message?: string}}; error?: {message?: string}}
  return /range|too many|limit|exceed|too large|block range/i.test(
    `${e?.message ?? ''} ${e?.info?.error?.message ?? ''} ${e?.error?.message ?? ''}`,
  )
}

/** The block a medctl ConsentRegistry was deployed in (its immutable `deployedBlock`). */
export async function deploymentBlock(registry: ConsentRegistry): Promise<number> {
  return Number(await chainRead(() => registry.deployedBlock(), registry))
}
