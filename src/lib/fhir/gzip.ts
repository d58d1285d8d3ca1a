import {closeSync, createReadStream, openSync, readSync} from 'node:fs'
import {createInflateRaw, crc32} from 'node:zlib'

/*
 * Gzip read member by member (RFC 1952), so one bad member, or junk after the last one, costs only
 * itself: each member's deflate data is inflated on its own and its CRC-32 and length are checked
 * against its trailer. zlib's own gunzip stream cannot do this: on junk after a member it fails
 * the write that held the member's end and drops that output, losing valid lines.
 */

/** Why a walk over the members stopped early. */
export type GzipStop =
  /** A member whose deflate data or trailer check failed: its output cannot be trusted. */
  | {kind: 'damaged'; member: number}
  /** Bytes after the last complete member that are not gzip (zero padding is ignored, as gzip does). */
  | {kind: 'trailing'; member: number}
  /** The file ends inside a member. */
  | {kind: 'truncated'; member: number}

export interface GzipWalk {
  /** Members read whole, their trailer checked. */
  members: number
  stop?: GzipStop
}

const FLG_FHCRC = 0x02
const FLG_FEXTRA = 0x04
const FLG_FNAME = 0x08
const FLG_FCOMMENT = 0x10

/** The length of the member header at `offset`, or why there is none ('eof', 'zeros', 'junk', 'truncated'). */
function headerAt(fd: number, offset: number): number | 'eof' | 'zeros' | 'junk' | 'truncated' {
  const head = Buffer.alloc(64 * 1024)
  const read = readSync(fd, head, 0, head.length, offset)
  if (read === 0) return 'eof'
  const bytes = head.subarray(0, read)
  if (bytes.every((b) => b === 0)) return onlyZerosFrom(fd, offset + read) ? 'zeros' : 'junk'
  if (read < 10) return bytes[0] === 0x1f && (read < 2 || bytes[1] === 0x8b) ? 'truncated' : 'junk'
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) return 'junk'
  const flags = bytes[3] as number
  let at = 10
  if (flags & FLG_FEXTRA) {
    if (read < at + 2) return 'truncated'
    at += 2 + bytes.readUInt16LE(at)
  }
  for (const flag of [FLG_FNAME, FLG_FCOMMENT]) {
    if (!(flags & flag)) continue
    const end = bytes.indexOf(0, at)
    if (end === -1) return read < head.length ? 'truncated' : 'junk'
    at = end + 1
  }
  if (flags & FLG_FHCRC) at += 2
  return at > read ? 'truncated' : at
}

function onlyZerosFrom(fd: number, offset: number): boolean {
  const buffer = Buffer.alloc(64 * 1024)
  for (let at = offset; ;) {
    const read = readSync(fd, buffer, 0, buffer.length, at)
    if (read === 0) return true
    if (!buffer.subarray(0, read).every((b) => b === 0)) return false
    at += read
  }
}

/**
 * The decompressed bytes of the file's members in order, at most `maxMembers` of them; `walk` tells
 * how many were read whole and why the walk stopped. The output of a member is yielded as it is
 * inflated, before its trailer is checked: a caller that must not use unchecked bytes walks the
 * file once first (discarding the output) and then reads only the members that walk vouched for.
 */
export async function* gzipMembers(path: string, walk: GzipWalk, options: {maxMembers?: number} = {}): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r')
  try {
    let offset = 0
    while (options.maxMembers === undefined || walk.members < options.maxMembers) {
      const header = headerAt(fd, offset)
      if (header === 'eof' || header === 'zeros') return
      if (header === 'junk') {
        walk.stop = walk.members === 0 ? {kind: 'damaged', member: 0} : {kind: 'trailing', member: walk.members}
        return
      }
      if (header === 'truncated') {
        walk.stop = {kind: 'truncated', member: walk.members}
        return
      }
      const member = yield* inflateMember(path, offset + header, walk)
      if (!member) return
      const trailer = Buffer.alloc(8)
      const read = readSync(fd, trailer, 0, 8, offset + header + member.consumed)
      if (read < 8) {
        walk.stop = {kind: 'truncated', member: walk.members}
        return
      }
      if (trailer.readUInt32LE(0) !== member.crc || trailer.readUInt32LE(4) !== member.size % 2 ** 32) {
        walk.stop = {kind: 'damaged', member: walk.members}
        return
      }
      walk.members++
      offset += header + member.consumed + 8
    }
  } finally {
    closeSync(fd)
  }
}

/** Inflates the deflate data at `start`; undefined (with walk.stop set) when it is damaged or cut short. */
async function* inflateMember(
  path: string,
  start: number,
  walk: GzipWalk,
): AsyncGenerator<Buffer, {consumed: number; crc: number; size: number} | undefined> {
  const source = createReadStream(path, {start})
  const inflate = createInflateRaw()
  const queue: Buffer[] = []
  let failure: NodeJS.ErrnoException | undefined
  let sourceEnded = false
  let ended = false
  let wake: (() => void) | undefined
  const signal = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  inflate.on('data', (chunk: Buffer) => {
    queue.push(chunk)
    if (queue.length >= 16) inflate.pause()
    signal()
  })
  inflate.on('end', () => {
    ended = true
    signal()
  })
  inflate.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= error
    signal()
  })
  source.on('end', () => {
    sourceEnded = true
  })
  source.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= error
    signal()
  })
  source.pipe(inflate)
  let crc = 0
  let size = 0
  try {
    for (;;) {
      const chunk = queue.shift()
      if (chunk) {
        if (queue.length < 4 && inflate.isPaused()) inflate.resume()
        crc = crc32(chunk, crc)
        size += chunk.length
        yield chunk
        continue
      }
      if (failure !== undefined) {
        if (failure.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(failure.message))
          walk.stop = {kind: 'truncated', member: walk.members}
        else if (typeof failure.code === 'string' && failure.code.startsWith('Z_')) walk.stop = {kind: 'damaged', member: walk.members}
        else throw failure
        return undefined
      }
      if (ended) {
        // zlib ends an inflate-raw stream at the end of the deflate data; input it did not take is the trailer and what follows.
        if (sourceEnded && inflate.bytesWritten === 0) {
          walk.stop = {kind: 'truncated', member: walk.members}
          return undefined
        }
        return {consumed: inflate.bytesWritten, crc, size}
      }
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  } finally {
    source.destroy()
    inflate.destroy()
  }
}
