import {createHash} from 'node:crypto'
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
} from 'node:fs'
import {join} from 'node:path'
import {ExitCode, MedctlError} from '../core/errors.js'
import {GENESIS, buildEntry, serializeEntry, type AuditInput} from './entry.js'
import {SCAN_CHUNK, treeHeadOfSegments, treeHeadOfSegmentsAsync, type AsyncScanOptions, type LogTreeHead} from './scan.js'

const SEGMENT_BYTES = 64 * 1024 * 1024
const SEGMENT = /^log-(\d{6})\.ndjson$/

export interface LogLine {
  index: number
  bytes: Buffer
  /** The last line lacks its newline: a write was cut short. */
  torn: boolean
}

export interface LogState {
  size: number
  lastHash: string
  segment: string
  bytes: number
}

/**
 * The appender's state file (size and hash of the last line it wrote), or undefined when it is
 * missing or damaged: it is only a cache, so a damaged one means "rescan the log", never a failure.
 */
export function readState(dir: string): LogState | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Partial<LogState>
    if (
      !Number.isSafeInteger(value.size) ||
      (value.size as number) < 0 ||
      typeof value.lastHash !== 'string' ||
      typeof value.segment !== 'string' ||
      !Number.isSafeInteger(value.bytes)
    )
      return undefined
    return value as LogState
  } catch {
    return undefined
  }
}

export function lineHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export function segments(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => SEGMENT.test(f))
    .sort()
    .map((f) => join(dir, f))
}

/** Every line of the log in order, streaming (bounded memory), flagging a torn last line. */
export function* readLog(dir: string): Generator<LogLine> {
  let index = 0
  const files = segments(dir)
  for (const [n, file] of files.entries()) {
    const fd = openSync(file, 'r')
    try {
      const chunk = Buffer.alloc(4 * 1024 * 1024)
      let carry = Buffer.alloc(0)
      for (;;) {
        const read = readSync(fd, chunk, 0, chunk.length, null)
        if (read === 0) break
        let data = carry.length ? Buffer.concat([carry, chunk.subarray(0, read)]) : chunk.subarray(0, read)
        let start = 0
        for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
          yield {index: index++, bytes: Buffer.from(data.subarray(start, nl)), torn: false}
          start = nl + 1
        }
        carry = Buffer.from(data.subarray(start))
        data = Buffer.alloc(0)
      }
      if (carry.length > 0) yield {index: index++, bytes: carry, torn: n === files.length - 1}
    } finally {
      closeSync(fd)
    }
  }
}

/** Size, Merkle root and last-line hash of the log in one pass, on this thread (see scan.ts). */
export function logTreeHead(dir: string, chunkBytes = SCAN_CHUNK): LogTreeHead {
  return treeHeadOfSegments(segments(dir), chunkBytes)
}

/** The same, with the leaves hashed in a worker thread for a large log (see scan.ts). */
export async function logTreeHeadAsync(dir: string, options: AsyncScanOptions = {}): Promise<LogTreeHead> {
  return treeHeadOfSegmentsAsync(segments(dir), options)
}

/**
 * The append-only audit log: NDJSON segments under one directory, one canonical entry per line,
 * each line chained to the previous one by hash. Appends hold an exclusive lock file, write whole
 * lines and fsync before they return.
 */
export class AuditLog {
  constructor(readonly dir: string) {}

  private get statePath(): string {
    return join(this.dir, 'state.json')
  }

  private lock(): () => void {
    mkdirSync(this.dir, {recursive: true, mode: 0o700})
    const path = join(this.dir, '.lock')
    const deadline = Date.now() + 30_000
    for (;;) {
      try {
        const fd = openSync(path, 'wx', 0o600)
        writeSync(fd, String(process.pid))
        closeSync(fd)
        return () => rmSync(path, {force: true})
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        const holder = Number(readFileSync(path, 'utf8') || 0)
        let alive = false
        try {
          if (holder) process.kill(holder, 0)
          alive = holder > 0
        } catch {
          alive = false
        }
        if (!alive) rmSync(path, {force: true})
        else if (Date.now() > deadline) throw new MedctlError('E_AUDIT_LOCKED', `The audit log is locked by process ${holder}.`)
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
      }
    }
  }

  /** Size and last line hash, from the state file when it matches the segment, else by scanning. */
  private state(): LogState {
    const state = readState(this.dir)
    if (state && existsSync(state.segment) && statSync(state.segment).size === state.bytes && segments(this.dir).at(-1) === state.segment)
      return state
    let size = 0
    let lastHash = GENESIS
    for (const line of readLog(this.dir)) {
      if (line.torn) {
        throw new MedctlError(
          'E_AUDIT_TORN_TAIL',
          `The audit log's last line (entry ${line.index}) is incomplete: a write was cut short.`,
          {
            exitCode: ExitCode.VERIFY_FAILED,
            suggestions: ['Inspect it, then run `medctl audit repair --yes` to move the torn bytes aside.'],
            details: {index: line.index},
          },
        )
      }
      size = line.index + 1
      lastHash = lineHash(line.bytes)
    }
    const segment = segments(this.dir).at(-1) ?? join(this.dir, 'log-000001.ndjson')
    return {size, lastHash, segment, bytes: existsSync(segment) ? statSync(segment).size : 0}
  }

  size(): number {
    return this.state().size
  }

  append(inputs: readonly AuditInput[]): {first: number; size: number; lastHash: string} {
    const unlock = this.lock()
    try {
      const state = this.state()
      let segment = state.segment
      let bytes = state.bytes
      if (bytes > SEGMENT_BYTES) {
        const n = Number(SEGMENT.exec(segment.split('/').at(-1) ?? '')?.[1] ?? 0) + 1
        segment = join(this.dir, `log-${String(n).padStart(6, '0')}.ndjson`)
        bytes = 0
      }
      let prev = state.lastHash
      const lines: Buffer[] = []
      inputs.forEach((input, i) => {
        const line = serializeEntry(buildEntry(input, state.size + i, prev))
        prev = lineHash(line)
        lines.push(line, Buffer.from('\n'))
      })
      const data = Buffer.concat(lines)
      const fd = openSync(segment, 'a', 0o600)
      try {
        writeSync(fd, data)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      const next: LogState = {size: state.size + inputs.length, lastHash: prev, segment, bytes: bytes + data.length}
      writeFileSync(`${this.statePath}.tmp`, JSON.stringify(next), {mode: 0o600})
      renameSync(`${this.statePath}.tmp`, this.statePath)
      return {first: state.size, size: next.size, lastHash: prev}
    } finally {
      unlock()
    }
  }

  /** Moves a torn last line aside (into a quarantine file) so appends can resume. */
  repair(): {quarantined: string | null; index: number | null} {
    const unlock = this.lock()
    try {
      const last = segments(this.dir).at(-1)
      if (!last) return {quarantined: null, index: null}
      const data = readFileSync(last)
      if (data.length === 0 || data[data.length - 1] === 10) return {quarantined: null, index: null}
      const cut = data.lastIndexOf(10) + 1
      let index = 0
      for (const line of readLog(this.dir)) index = line.index
      const quarantine = join(this.dir, `torn-${Date.now()}.bin`)
      writeFileSync(quarantine, data.subarray(cut), {mode: 0o600})
      const fd = openSync(last, 'r+')
      try {
        ftruncateSync(fd, cut)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      rmSync(this.statePath, {force: true})
      return {quarantined: quarantine, index}
    } finally {
      unlock()
    }
  }
}
