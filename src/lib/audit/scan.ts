/**
 * The Merkle-only path over the log as stored: size, RFC 9162 root and last-line hash in one pass,
 * without copying a line. Segments are read in 8 MiB chunks and each leaf is hashed where it lies,
 * the byte before it (a newline) lent as the 0x00 prefix. Same lines as `readLog`: a line never
 * spans segments; an unterminated last line of a segment is a line, torn when it ends the log.
 *
 * Profiled on the project machine, the pass is all SHA-256 calls (one per leaf, one per node; the
 * scan itself is ~1%), and each call costs about a microsecond of per-call overhead whatever its
 * length. So `logTreeHeadAsync` hashes the leaves in a worker thread while the main thread folds
 * them into the tree: on two cores the two halves of the work overlap.
 */
import {closeSync, openSync, readSync, statSync} from 'node:fs'
import {hash} from 'node:crypto'
import {Worker} from 'node:worker_threads'
import {RootAccumulator, type Hash} from './merkle.js'

export interface LogTreeHead {
  size: number
  /** RFC 9162 root of every line as stored (0x-hex). */
  root: string
  /** SHA-256 (hex) of the last line, '' when the log is empty. */
  lastHash: string
  /** Index of a torn last line (included in size and root, as `readLog` yields it), if any. */
  torn?: number
}

export const SCAN_CHUNK = 8 * 1024 * 1024

interface ScanIo {
  openSync: typeof openSync
  readSync: typeof readSync
  closeSync: typeof closeSync
  hash: typeof hash
}

interface ScanEnd {
  count: number
  /** The last line's bytes (for its hash), null when there is none. */
  last: Uint8Array | null
  /** Index of a torn last line, -1 when none. */
  torn: number
}

/**
 * Emits the leaf hashes of every line of `files`, in order, in batches of 32-byte hashes (each
 * batch a fresh, unshared buffer the receiver may keep or transfer). Self-contained — it names
 * nothing outside its parameters — because its source text also runs in the worker thread.
 */
export function scanLeaves(
  io: ScanIo,
  files: readonly string[],
  chunkBytes: number,
  emit: ((leaves: Uint8Array, count: number) => void) | null,
  each?: (leaf: Buffer) => void,
): ScanEnd {
  const BATCH = 16384
  let out = new Uint8Array(32 * BATCH)
  let filled = 0
  let count = 0
  let last: Uint8Array | null = null
  let lastStart = -1
  let lastEnd = -1
  let torn = -1
  // buf[0] is never data, so every line starts at 1 or later and has a byte before it to lend.
  let buf = Buffer.allocUnsafe(1 + Math.max(1, chunkBytes))
  const flush = (): void => {
    if (filled === 0 || !emit) return
    emit(out, filled)
    out = new Uint8Array(32 * BATCH)
    filled = 0
  }
  const leaf = (start: number, end: number): void => {
    const saved = buf[start - 1] as number
    buf[start - 1] = 0
    const digest = io.hash('sha256', buf.subarray(start - 1, end), 'buffer')
    buf[start - 1] = saved
    count++
    lastStart = start
    lastEnd = end
    if (each) {
      each(digest)
      return
    }
    out.set(digest, filled * 32)
    filled++
    if (filled === BATCH) flush()
  }
  const keepLast = (): void => {
    if (lastStart >= 0) last = Uint8Array.prototype.slice.call(buf, lastStart, lastEnd)
    lastStart = -1
  }
  for (let n = 0; n < files.length; n++) {
    const fd = io.openSync(files[n] as string, 'r')
    let len = 1
    let start = 1
    try {
      for (;;) {
        if (len === buf.length) {
          keepLast()
          if (start > 1) {
            buf.copyWithin(1, start, len)
            len = 1 + len - start
            start = 1
          } else {
            const grown = Buffer.allocUnsafe(buf.length * 2)
            buf.copy(grown, 0, 0, len)
            buf = grown
          }
        }
        const read = io.readSync(fd, buf, len, buf.length - len, null)
        if (read === 0) break
        const view = buf.subarray(0, len + read)
        for (let nl = view.indexOf(10, len); nl !== -1; nl = view.indexOf(10, nl + 1)) {
          leaf(start, nl)
          start = nl + 1
        }
        len += read
        if (start === len) {
          keepLast()
          len = 1
          start = 1
        }
        flush()
      }
      if (start < len) {
        leaf(start, len)
        if (n === files.length - 1) torn = count - 1
      }
      keepLast()
    } finally {
      io.closeSync(fd)
    }
  }
  flush()
  return {count, last, torn}
}

function finish(acc: RootAccumulator, end: ScanEnd): LogTreeHead {
  return {
    size: acc.size,
    root: `0x${acc.root().toString('hex')}`,
    lastHash: end.last ? hash('sha256', end.last, 'hex') : '',
    ...(end.torn >= 0 ? {torn: end.torn} : {}),
  }
}

const pushAll = (acc: RootAccumulator, leaves: Uint8Array, count: number): void => {
  const b = Buffer.from(leaves.buffer, leaves.byteOffset, count * 32)
  for (let i = 0; i < count; i++) acc.push(b.subarray(i * 32, i * 32 + 32) as Hash)
}

/** Size, root and last-line hash of the segments, on this thread. */
export function treeHeadOfSegments(files: readonly string[], chunkBytes = SCAN_CHUNK): LogTreeHead {
  const acc = new RootAccumulator()
  const end = scanLeaves({openSync, readSync, closeSync, hash}, files, chunkBytes, null, (leaf) => acc.push(leaf))
  return finish(acc, end)
}

/** Below this many bytes a worker thread costs more than it saves. */
export const PARALLEL_MIN_BYTES = 16 * 1024 * 1024

const WORKER_SOURCE = `
const __name = (f) => f; // an esbuild helper the function text may name
const fs = require('node:fs');
const {hash} = require('node:crypto');
const {parentPort, workerData} = require('node:worker_threads');
const scanLeaves = (${scanLeaves.toString()});
try {
  const end = scanLeaves({openSync: fs.openSync, readSync: fs.readSync, closeSync: fs.closeSync, hash}, workerData.files, workerData.chunkBytes,
    (leaves, count) => parentPort.postMessage({leaves, count}, [leaves.buffer]));
  parentPort.postMessage({end});
} catch (error) {
  parentPort.postMessage({error: String((error && error.message) || error)});
}
`

/**
 * As `treeHeadOfSegments`, with the leaves hashed in a worker thread and folded here as they come
 * (in order). Small logs, and any failure of the worker, take the single-thread path, which then
 * reports real errors (a missing or unreadable segment) itself.
 */
export interface AsyncScanOptions {
  chunkBytes?: number
  /** Logs smaller than this stay on this thread (default PARALLEL_MIN_BYTES). */
  minBytes?: number
  /** Told why a large log was hashed on this thread after all (the worker failed). */
  onFallback?: (why: string) => void
}

export async function treeHeadOfSegmentsAsync(files: readonly string[], options: AsyncScanOptions = {}): Promise<LogTreeHead> {
  const chunkBytes = options.chunkBytes ?? SCAN_CHUNK
  let bytes = 0
  try {
    for (const f of files) bytes += statSync(f).size
  } catch {
    return treeHeadOfSegments(files, chunkBytes)
  }
  if (bytes < (options.minBytes ?? PARALLEL_MIN_BYTES)) return treeHeadOfSegments(files, chunkBytes)
  const parallel = await new Promise<LogTreeHead | undefined>((resolve) => {
    const acc = new RootAccumulator()
    let settled = false
    const settle = (value: LogTreeHead | undefined, why = ''): void => {
      if (settled) return
      settled = true
      if (!value) options.onFallback?.(why)
      resolve(value)
      void worker.terminate()
    }
    const worker = new Worker(WORKER_SOURCE, {eval: true, workerData: {files: [...files], chunkBytes}})
    worker.on('message', (m: {leaves?: Uint8Array; count?: number; end?: ScanEnd; error?: string}) => {
      if (settled) return
      if (m.leaves && m.count !== undefined) pushAll(acc, m.leaves, m.count)
      else if (m.end) settle(acc.size === m.end.count ? finish(acc, m.end) : undefined, 'the worker lost leaves')
      else settle(undefined, m.error ?? 'unexpected message')
    })
    worker.on('error', (error) => settle(undefined, error.message))
    worker.on('exit', (code) => settle(undefined, `the worker exited (${code})`))
  })
  return parallel ?? treeHeadOfSegments(files, chunkBytes)
}
