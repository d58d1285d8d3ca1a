import {create, type KuboRPCClient} from 'kubo-rpc-client'
import {MedctlError} from '../cli/errors.js'
import type {ContentStore} from './content-store.js'
import {CHUNK_SIZE} from './unixfs.js'

export interface KuboStoreOptions {
  url: string
  /** Per-request timeout. */
  timeoutMs?: number
  /** Retries after the first attempt, with exponential backoff, on transient failures only. */
  retries?: number
  backoffMs?: number
}

type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Transient: the network, a timeout, or a 5xx. A 4xx is the request's fault and is not retried. */
export function isTransient(error: unknown): boolean {
  const e = error as {name?: string; code?: string; cause?: {code?: string}; response?: {status?: number}; status?: number; message?: string}
  const status = e?.response?.status ?? e?.status
  if (typeof status === 'number') return status >= 500
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true
  const code = e?.code ?? e?.cause?.code
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'].includes(code)) return true
  return /fetch failed|socket hang up|other side closed|ECONNRESET|ECONNREFUSED/i.test(e?.message ?? '')
}

/**
 * A Kubo node through kubo-rpc-client: adds with the options that give the embedded store's CIDs
 * (CIDv1, raw leaves, 256 KiB chunks), with a timeout per request and retries with backoff.
 */
export class KuboStore implements ContentStore {
  private readonly client: KuboRPCClient
  private readonly timeoutMs: number
  private readonly retries: number
  private readonly backoffMs: number

  constructor(private readonly options: KuboStoreOptions) {
    this.client = create({url: options.url})
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.retries = options.retries ?? 4
    this.backoffMs = options.backoffMs ?? 200
  }

  private async attempt<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)))
      try {
        return await run(AbortSignal.timeout(this.timeoutMs))
      } catch (error) {
        lastError = error
        if (!isTransient(error)) break
      }
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError)
    throw new MedctlError('E_KUBO', `Kubo ${what} failed at ${this.options.url}: ${message}`, {cause: lastError, suggestions: ['Check that the node runs and its RPC API is reachable.']})
  }

  /** Adds content produced afresh by `source` on every attempt (so a retry can resend it). */
  async addFrom(source: () => ByteSource): Promise<{cid: string; size: number}> {
    return this.attempt('add', async (signal) => {
      const added = await this.client.add(source() as Uint8Array, {cidVersion: 1, rawLeaves: true, chunker: `size-${CHUNK_SIZE}`, pin: false, signal})
      return {cid: added.cid.toString(), size: Number(added.size)}
    })
  }

  async add(content: ByteSource): Promise<{cid: string; size: number}> {
    if (content instanceof Uint8Array) return this.addFrom(() => content)
    const chunks: Uint8Array[] = []
    for await (const chunk of content) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    return this.addFrom(() => bytes)
  }

  async *cat(cid: string): AsyncIterable<Uint8Array> {
    const bytes = await this.attempt('cat', async (signal) => {
      const chunks: Uint8Array[] = []
      for await (const chunk of this.client.cat(cid, {signal})) chunks.push(chunk)
      return Buffer.concat(chunks)
    })
    yield bytes
  }

  /** Whether the node holds the content pinned (pinned content is never garbage-collected). */
  async has(cid: string): Promise<boolean> {
    return this.attempt('pin ls', async (signal) => {
      try {
        for await (const pin of this.client.pin.ls({paths: [cid], signal})) if (pin.cid.toString() === cid) return true
        return false
      } catch (error) {
        if (/not pinned|is not pinned/i.test((error as Error).message ?? '')) return false
        throw error
      }
    })
  }

  async pin(cid: string): Promise<void> {
    await this.attempt('pin add', async (signal) => {
      await this.client.pin.add(cid, {signal})
    })
  }
}
