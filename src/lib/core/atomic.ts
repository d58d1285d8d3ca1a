import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'
import {fromSystemError} from './errors.js'

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0600: everything medctl keeps is private). */
  mode?: number
}

/**
 * The one atomic file write: a temp file next to the target (created exclusively), fsync, rename,
 * then fsync of the directory. On any failure the temp file is removed and the target is left as
 * it was; ENOSPC / EDQUOT become E_DISK_FULL naming the target.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const temp = openTemp(path, options)
  try {
    writeFileSync(temp.fd, data)
  } catch (error) {
    throw abandonTemp(temp, path, error)
  }
  commitTemp(temp, path)
}

/**
 * The same atomic write for content produced as it goes (a CAR file, an NDJSON export):
 * `fill` writes through `write`; the file appears under `path` only when it has all returned.
 * Returns the bytes written.
 */
export async function writeStreamAtomic(
  path: string,
  fill: (write: (data: string | Uint8Array) => void) => Promise<void>,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const temp = openTemp(path, options)
  let bytes = 0
  const write = (data: string | Uint8Array): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let offset = 0
    while (offset < chunk.length) offset += writeSync(temp.fd, chunk, offset, chunk.length - offset)
    bytes += chunk.length
  }
  try {
    await fill(write)
  } catch (error) {
    throw abandonTemp(temp, path, error)
  }
  commitTemp(temp, path)
  return bytes
}

interface Temp {
  path: string
  fd: number
}

function openTemp(path: string, options: AtomicWriteOptions): Temp {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    return {path: temp, fd: openSync(temp, 'wx', options.mode ?? 0o600)}
  } catch (error) {
    throw fromSystemError(error, path) ?? error
  }
}

function commitTemp(temp: Temp, path: string): void {
  try {
    fsyncSync(temp.fd)
    closeSync(temp.fd)
    renameSync(temp.path, path)
  } catch (error) {
    throw abandonTemp(temp, path, error)
  }
  syncDirectory(dirname(path))
}

/** Closes and removes the temp file; returns the error to throw (E_DISK_FULL and the like mapped). */
function abandonTemp(temp: Temp, path: string, error: unknown): unknown {
  try {
    closeSync(temp.fd)
  } catch {
    // already closed, or already failing: the original error is the one to report
  }
  rmSync(temp.path, {force: true})
  return fromSystemError(error, path) ?? error
}

/** Makes a rename durable. Best effort: some file systems refuse fsync on a directory. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    // not supported here: the rename itself is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
