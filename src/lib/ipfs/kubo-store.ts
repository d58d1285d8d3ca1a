import {create, type KuboRPCClient} from 'kubo-rpc-client'
import {CID} from 'multiformats/cid'
import {ExitCode, MedctlError} from '../core/errors.js'
import type {ContentStore} from './content-store.js'
import {CHUNK_SIZE, blockMatches, readUnixfs} from './unixfs.js'

export interface KuboStoreOptions {
  url: string
  /** Per-request timeout. */
  timeoutMs?: number
  /** Retries after the first attempt, with exponential backoff, on transient failures only. */
  retries?: number
  backoffMs?: number
  /** How long the first contact may take before the node counts as down (default: min(timeoutMs, 5 s)). */
  probeTimeoutMs?: number
}

type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Transient: the network, a timeout, or a 5xx. A 4xx is the request's fault and is not retried. */
export function isTransient(error: unknown): boolean {
  const e = error as {
    name?: string
    code?: string
    cause?: {code?: string}
    response?: {status?: number}
    status?: number
    message?: string
  }
  const status = e?.response?.status ?? e?.status
  if (typeof status === 'number') return status >= 500
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return true
  const code = e?.code ?? e?.cause?.code
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'].includes(code)) return true
  return /fetch failed|socket hang up|other side closed|ECONNRESET|ECONNREFUSED/i.test(e?.message ?? '')
}

/** The HTTP status of a failed request, when the node answered at all. */
function httpStatus(error: unknown): number | undefined {
  const e = error as {response?: {status?: number}; status?: number}
  const status = e?.response?.status ?? e?.status
  return typeof status === 'number' ? status : undefined
}

/**
 * A Kubo node through kubo-rpc-client: adds with the options that give the embedded store's CIDs
 * (CIDv1, raw leaves, 256 KiB chunks), with a timeout per request and retries with backoff.
 */
export class KuboStore implements ContentStore {
  readonly kind = 'kubo' as const
  private readonly client: KuboRPCClient
  private readonly timeoutMs: number
  private readonly retries: number
  private readonly backoffMs: number
  private readonly probeTimeoutMs: number
  private reached?: Promise<void>

  constructor(private readonly options: KuboStoreOptions) {
    this.client = create({url: options.url})
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.retries = options.retries ?? 4
    this.backoffMs = options.backoffMs ?? 200
    this.probeTimeoutMs = options.probeTimeoutMs ?? Math.min(this.timeoutMs, 5000)
  }

  get url(): string {
    return this.options.url
  }

  /**
   * Fail fast: one short request (`version`) before the first real one. If the node does not
   * answer at all (connection refused, unknown host, no answer within the probe timeout), every
   * operation fails at once with E_STORE_UNAVAILABLE instead of being retried object by object.
   * Any HTTP answer, even an error status, shows that something listens there.
   */
  async probe(): Promise<void> {
    this.reached ??= (async () => {
      try {
        await this.client.version({signal: AbortSignal.timeout(this.probeTimeoutMs)})
      } catch (error) {
        if (httpStatus(error) === undefined) throw this.unavailable(error)
      }
    })()
    try {
      await this.reached
    } catch (error) {
      this.reached = undefined
      throw error
    }
  }

  private unavailable(error: unknown): MedctlError {
    const e = error as {name?: string; code?: string; cause?: {code?: string}; message?: string}
    const why =
      e?.name === 'TimeoutError' || e?.name === 'AbortError'
        ? `no answer within ${this.probeTimeoutMs} ms`
        : (e?.code ?? e?.cause?.code ?? e?.message ?? String(error))
    return new MedctlError('E_STORE_UNAVAILABLE', `The Kubo node at ${this.options.url} is unavailable (${why}).`, {
      cause: error,
      details: {url: this.options.url},
      suggestions: [
        'Start the node (or check its RPC address: `medctl profile set store.url URL`) and run the command again; nothing was lost.',
      ],
    })
  }

  /**
   * Runs one request: the node is probed first (fail fast when it is down); once it has answered,
   * transient failures are retried with backoff, and when the retries are spent on a connection
   * failure the node is probed again, so a node that went down mid-job fails the job at once.
   */
  private async attempt<T>(what: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.probe()
    let lastError: unknown
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)))
      try {
        return await run(AbortSignal.timeout(this.timeoutMs))
      } catch (error) {
        lastError = error
        if (error instanceof MedctlError || !isTransient(error)) break
      }
    }
    if (lastError instanceof MedctlError) throw lastError
    if (httpStatus(lastError) === undefined && isTransient(lastError)) {
      this.reached = undefined
      await this.probe()
    }
    const message = lastError instanceof Error ? lastError.message : String(lastError)
    throw new MedctlError('E_KUBO', `Kubo ${what} failed at ${this.options.url}: ${message}`, {
      cause: lastError,
      suggestions: ['Check that the node runs and its RPC API is reachable.'],
    })
  }

  /** Adds content produced afresh by `source` on every attempt (so a retry can resend it). */
  async addFrom(source: () => ByteSource): Promise<{cid: string; size: number}> {
    return this.attempt('add', async (signal) => {
      const added = await this.client.add(source() as Uint8Array, {
        cidVersion: 1,
        rawLeaves: true,
        chunker: `size-${CHUNK_SIZE}`,
        pin: false,
        signal,
      })
      return {cid: added.cid.toString(), size: Number(added.size)}
    })
  }

  /** The streaming put: the node chunks the content as it is sent (kubo-rpc-client streams the request body). */
  async addStream(source: () => AsyncIterable<Uint8Array>): Promise<{cid: string; size: number}> {
    return this.addFrom(source)
  }

  async add(content: ByteSource): Promise<{cid: string; size: number}> {
    if (content instanceof Uint8Array) return this.addFrom(() => content)
    const chunks: Uint8Array[] = []
    for await (const chunk of content) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    return this.addFrom(() => bytes)
  }

  /**
   * The content of a CID, streamed block by block with bounded memory, whatever its size: the DAG
   * is walked with `block/get` and every block is checked against its CID before any of its bytes
   * are used, so a node or peer that serves other bytes is refused with E_CID_MISMATCH (exit 4).
   */
  cat(cid: string): AsyncIterable<Uint8Array> {
    return readUnixfs(cid, (c) => this.getBlock(c))
  }

  /** One raw block, checked against its CID. */
  async getBlock(cid: string): Promise<Uint8Array | undefined> {
    const bytes = await this.attempt('block get', async (signal) => this.client.block.get(CID.parse(cid), {signal}))
    if (!(await blockMatches(cid, bytes))) {
      throw new MedctlError('E_CID_MISMATCH', `The Kubo node at ${this.options.url} served a block that does not match ${cid}.`, {
        exitCode: ExitCode.VERIFY_FAILED,
        details: {cid},
      })
    }
    return bytes
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
