import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync} from 'node:fs'
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
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'wx', options.mode ?? 0o600)
    writeFileSync(fd, data)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, path)
  } catch (error) {
    if (fd !== undefined) {
      try {
        closeSync(fd)
      } catch {
        // already failing: the original error is the one to report
      }
    }
    rmSync(tmp, {force: true})
    throw fromSystemError(error, path) ?? error
  }
  syncDirectory(dirname(path))
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
