import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {dirname} from 'node:path'
import {MedctlError, fromSystemError} from '../core/errors.js'
import {ensurePrivateDir, type MedctlPaths} from './paths.js'

/**
 * One writer per home. Every command that writes to the home holds `medctl.lock` while it runs;
 * a second writer fails fast with E_BUSY naming the holder. Readers never take it.
 *
 * The lock file is born complete: the holder record is written to a private temp file which is
 * then hard-linked to the lock path (link fails atomically with EEXIST when the lock is held), so
 * nobody ever reads a half-written lock. A lock whose process is gone (same host, pid dead, or
 * the pid now belongs to a process started later) is stale and taken over: it is renamed aside,
 * checked to be the very record judged stale, and removed. Within one process the lock is
 * re-entrant (a command that runs another in-process, the demo, the test suite).
 */
export interface LockHolder {
  pid: number
  host: string
  /** The command holding it, e.g. "records import". */
  command: string
  startedAt: string
  /** Start time of the holder process (Linux /proc/<pid>/stat field 22), to detect pid reuse. */
  procStart?: string
  token: string
}

export interface HomeLock {
  readonly file: string
  readonly holder: LockHolder
  /** Releases this hold (the file is removed when the last in-process hold is released). */
  release(): void
}

interface Held {
  holder: LockHolder
  count: number
  onExit: () => void
}

const held = new Map<string, Held>()

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A zombie (killed, not yet reaped by its parent) answers kill(0) but holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

function parseHolder(raw: string): LockHolder | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockHolder>
    if (
      typeof value?.pid === 'number' &&
      Number.isSafeInteger(value.pid) &&
      value.pid > 0 &&
      typeof value.host === 'string' &&
      typeof value.token === 'string'
    ) {
      return {command: '?', startedAt: '?', ...value} as LockHolder
    }
  } catch {
    // unreadable: judged below
  }
  return undefined
}

function readRaw(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw fromSystemError(error, file) ?? error
  }
}

/** Whether the recorded holder is certainly gone. A holder on another host is never judged stale. */
export function isStale(holder: LockHolder | undefined): boolean {
  if (!holder) return true // not a lock medctl wrote completely: nothing can be holding it
  if (holder.host !== hostname()) return false
  if (holder.pid === process.pid) return ![...held.values()].some((h) => h.holder.token === holder.token)
  if (!alive(holder.pid)) return true
  if (holder.procStart !== undefined) {
    const now = processStart(holder.pid)
    if (now !== undefined && now !== holder.procStart) return true
  }
  return false
}

function busy(file: string, holder: LockHolder | undefined): MedctlError {
  const who = holder ? `medctl (pid ${holder.pid} on ${holder.host}, "${holder.command}", since ${holder.startedAt})` : 'another medctl'
  return new MedctlError('E_BUSY', `Another writer holds this home: ${who}. One command at a time may write to a home.`, {
    exitCode: 1,
    suggestions: [
      'Wait for it to finish and run the command again.',
      `If no medctl is running${holder ? ` as pid ${holder.pid}` : ''}, remove ${file}.`,
    ],
    details: {
      lockFile: file,
      ...(holder ? {pid: holder.pid, host: holder.host, command: holder.command, startedAt: holder.startedAt} : {}),
    },
  })
}

/** Moves a stale lock aside; puts it back when it turned out not to be the record judged stale. */
function takeOver(file: string, staleRaw: string): void {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.stale`
  try {
    renameSync(file, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw fromSystemError(error, file) ?? error
  }
  if (readRaw(aside) !== staleRaw) {
    // Someone replaced the stale lock between our read and our rename: restore theirs.
    try {
      linkSync(aside, file)
    } catch {
      // a third writer got in first; theirs stands
    }
  }
  rmSync(aside, {force: true})
}

function tryCreate(file: string, holder: LockHolder): boolean {
  const tmp = `${file}.${process.pid}.${holder.token}.new`
  try {
    const fd = openSync(tmp, 'wx', 0o600)
    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    linkSync(tmp, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw error
  } finally {
    // Whatever happened (a full disk included), the temp record never stays behind.
    rmSync(tmp, {force: true})
  }
}

/** Takes the home's writer lock or fails with E_BUSY (exit 1) naming the holder. */
export function acquireHomeLock(paths: Pick<MedctlPaths, 'lockFile'>, command: string): HomeLock {
  const file = paths.lockFile
  const mine = held.get(file)
  if (mine) {
    mine.count++
    return handle(file, mine)
  }
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command,
    startedAt: new Date().toISOString(),
    ...(processStart(process.pid) ? {procStart: processStart(process.pid)} : {}),
    token: randomBytes(8).toString('hex'),
  }
  try {
    ensurePrivateDir(dirname(file))
    for (let attempt = 0; attempt < 5; attempt++) {
      if (tryCreate(file, holder)) {
        const entry: Held = {holder, count: 1, onExit: () => removeIfOurs(file, holder.token)}
        held.set(file, entry)
        process.once('exit', entry.onExit)
        return handle(file, entry)
      }
      const raw = readRaw(file)
      if (raw === undefined) continue // released meanwhile: try again
      const current = parseHolder(raw)
      if (!isStale(current)) throw busy(file, current)
      takeOver(file, raw)
    }
  } catch (error) {
    throw fromSystemError(error, file) ?? error
  }
  throw busy(file, parseHolder(readRaw(file) ?? ''))
}

function removeIfOurs(file: string, token: string): void {
  try {
    if (parseHolder(readFileSync(file, 'utf8'))?.token === token) rmSync(file, {force: true})
  } catch {
    // gone already
  }
}

function handle(file: string, entry: Held): HomeLock {
  let released = false
  return {
    file,
    holder: entry.holder,
    release() {
      if (released) return
      released = true
      entry.count--
      if (entry.count > 0) return
      held.delete(file)
      process.removeListener('exit', entry.onExit)
      removeIfOurs(file, entry.holder.token)
    },
  }
}

/** Who holds the lock now (undefined when free or stale): for status output. */
export function lockHolder(paths: Pick<MedctlPaths, 'lockFile'>): LockHolder | undefined {
  const raw = readRaw(paths.lockFile)
  if (raw === undefined) return undefined
  const holder = parseHolder(raw)
  return isStale(holder) ? undefined : holder
}
