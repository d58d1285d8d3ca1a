import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'
import type {ValidationProblem} from './validate.js'

export interface ValidationRequest {
  id: number
  /** The batch's resources joined by newlines (serialised JSON holds none): one string to copy, not an array of them. */
  jsons: string
}

/** A problem, or the SHA-256 of the resource's canonical JSON (RFC 8785), or the code of what the validator threw. */
export type ValidationReply =
  | {problem: ValidationProblem; digest?: undefined; thrown?: undefined}
  | {digest: string; problem?: undefined; thrown?: undefined}
  | {thrown: string; problem?: undefined; digest?: undefined}

/** Resources sent to a thread in one message (one structured clone and one wake-up per batch, not per resource). */
const BATCH = 64

/**
 * The number of validation threads by default: none. Since validation is compiled (validate-fast.ts)
 * it costs less than what a thread adds (serialising each resource, posting it, parsing it again,
 * and the definitions loaded once more per thread): on two cores the samples x40 imported at
 * 4,112 res/s and 342 MiB inline against 3,316 res/s and 504 MiB with one thread (bench/README.md).
 * `--threads N` still spreads validation over N threads.
 */
export function defaultValidationThreads(): number {
  return 0
}

/**
 * A thread's old generation: the R4 definitions take about 70 MiB, a batch of resources little (a
 * resource over 1 MiB is validated on the reading thread instead, see readers.ts);
 * without a cap V8 lets a busy thread's heap grow far past what it holds before collecting.
 */
const THREAD_HEAP_MB = 128

const shared = new Map<number, ValidationPool>()

/**
 * FHIR validation on worker threads (it is most of an import's CPU time): resources go out in
 * batches, round-robin, and come back as promises the reader awaits in input order. Each thread
 * loads the R4 definitions once, so one pool per process serves every import (`shared`); its
 * threads keep the process alive only while work is outstanding.
 */
export class ValidationPool {
  /** The process's pool of this many threads, created on first use (a failed pool is replaced). */
  static shared(threads: number): ValidationPool {
    let pool = shared.get(threads)
    if (!pool || pool.failure !== undefined || pool.workers.length === 0) {
      pool = new ValidationPool(threads)
      shared.set(threads, pool)
    }
    return pool
  }

  private outstanding = 0
  private readonly workers: Worker[] = []
  private readonly waiting = new Map<number, {resolve: (replies: ValidationReply[]) => void; reject: (error: unknown) => void}>()
  private batch:
    {jsons: string[]; resolvers: Array<(reply: ValidationReply) => void>; rejecters: Array<(error: unknown) => void>} | undefined
  private nextId = 0
  private turn = 0
  private failure: unknown
  private scheduled = false
  private closing = false

  constructor(threads: number) {
    const here = import.meta.url
    // From the compiled tree the worker is a .js sibling; from the TypeScript sources (tests, tsx)
    // a development bootstrap registers tsx in the thread first.
    const compiled = new URL('./validate-worker.js', here)
    const script = existsSync(fileURLToPath(compiled)) ? compiled : new URL('../../../test/helpers/validate-worker-tsx.mjs', here)
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(script, {resourceLimits: {maxOldGenerationSizeMb: THREAD_HEAP_MB}})
      worker.on('message', (message: {id: number; replies: ValidationReply[]}) => {
        const {replies} = message
        const waiter = this.waiting.get(message.id)
        this.waiting.delete(message.id)
        this.done(replies.length)
        waiter?.resolve(replies)
      })
      worker.on('error', (error) => this.fail(error))
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closing) this.fail(new Error(`A validation thread exited with code ${code}.`))
      })
      worker.unref()
      this.workers.push(worker)
    }
  }

  /** Threads hold the process open only while replies are awaited. */
  private started(count: number): void {
    if (this.outstanding === 0) for (const worker of this.workers) worker.ref()
    this.outstanding += count
  }

  private done(count: number): void {
    this.outstanding -= count
    if (this.outstanding <= 0) {
      this.outstanding = 0
      for (const worker of this.workers) worker.unref()
    }
  }

  private fail(error: unknown): void {
    this.failure ??= error
    for (const waiter of this.waiting.values()) waiter.reject(error)
    this.waiting.clear()
    this.done(this.outstanding)
  }

  /** Validates one serialised resource (after reference rewriting). */
  validate(json: string): Promise<ValidationReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    return new Promise<ValidationReply>((resolve, reject) => {
      this.batch ??= {jsons: [], resolvers: [], rejecters: []}
      this.batch.jsons.push(json)
      this.batch.resolvers.push(resolve)
      this.batch.rejecters.push(reject)
      if (this.batch.jsons.length >= BATCH) this.send()
      else if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => {
          this.scheduled = false
          this.send()
        })
      }
    })
  }

  /** Sends what is batched now (the reader calls this before it waits for a reply). */
  send(): void {
    const batch = this.batch
    if (!batch || batch.jsons.length === 0) return
    this.batch = undefined
    const id = this.nextId++
    this.started(batch.jsons.length)
    this.waiting.set(id, {
      resolve: (replies) => replies.forEach((reply, i) => batch.resolvers[i]?.(reply)),
      reject: (error) => batch.rejecters.forEach((reject) => reject(error)),
    })
    const worker = this.workers[this.turn++ % this.workers.length] as Worker
    worker.postMessage({id, jsons: batch.jsons.join('\n')} satisfies ValidationRequest)
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.all(this.workers.map((w) => w.terminate()))
    this.workers.length = 0
  }
}
