import {closeSync, createReadStream, openSync, readSync} from 'node:fs'
import {gzipMembers, type GzipWalk} from './gzip.js'

/** The longest line a reader accepts (bytes, before decoding); a longer line is rejected, not buffered. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

/** A problem with one line (or with the stream at that line): a stable code and a message without input values. */
export interface LineProblem {
  code: string
  message: string
}

/** One physical line of a text input: its decoded text, or why it cannot be read. */
export type LineItem = {line: number; text: string; problem?: undefined} | {line: number; text?: undefined; problem: LineProblem}

export interface LineOptions {
  maxLineBytes?: number
}

const NEWLINE = 0x0a

/** Why a byte stream stopped: gzip and file-system failures to codes; never the error's own text. */
export function streamProblem(error: unknown): LineProblem {
  const e = error as NodeJS.ErrnoException
  if (e?.code === 'Z_DATA_ERROR') {
    const header = /header/i.test(e.message ?? '')
    return header
      ? {code: 'E_GZIP_CORRUPT', message: 'The gzip data has a bad header (a later member, or trailing bytes, is not gzip).'}
      : {code: 'E_GZIP_CORRUPT', message: 'The gzip data is corrupt: the lines after this point cannot be read.'}
  }
  if (e?.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(e?.message ?? '')) {
    return {code: 'E_GZIP_TRUNCATED', message: 'The gzip file ends early (truncated): the lines after this point are missing.'}
  }
  if (typeof e?.code === 'string' && e.code.startsWith('Z_'))
    return {code: 'E_GZIP_CORRUPT', message: `The gzip data cannot be decompressed (${e.code}).`}
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code))
    return {code: 'E_READ_FAILED', message: `The input could not be read (${e.code}).`}
  return {code: 'E_READ_FAILED', message: 'The input could not be read.'}
}

function decodeLine(bytes: Buffer, line: number, decoder: TextDecoder): LineItem {
  let end = bytes.length
  if (end > 0 && bytes[end - 1] === 0x0d) end--
  let start = 0
  if (line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3
  if (bytes.subarray(start, end).includes(0))
    return {line, problem: {code: 'E_BINARY_INPUT', message: 'The line is binary data (it holds NUL bytes), not text.'}}
  try {
    return {line, text: decoder.decode(bytes.subarray(start, end))}
  } catch {
    return {line, problem: {code: 'E_INVALID_UTF8', message: 'The line is not valid UTF-8 text.'}}
  }
}

/**
 * Splits a byte stream into lines with bounded memory: a line longer than `maxLineBytes` is
 * rejected (E_LINE_TOO_LONG) and skipped without being buffered; bytes that are not UTF-8 reject
 * their line (E_INVALID_UTF8, nothing is replaced by U+FFFD); an error of the stream itself (a
 * corrupt or truncated gzip, a read error) becomes one last problem at the line it stopped, and
 * the lines before it stand.
 */
export async function* splitLines(chunks: AsyncIterable<Buffer | string>, options: LineOptions = {}): AsyncGenerator<LineItem> {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  const decoder = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true})
  let parts: Buffer[] = []
  let partBytes = 0
  let overflow = false
  let line = 1
  const iterator = chunks[Symbol.asyncIterator]()
  const finishLine = (tail: Buffer): LineItem => {
    let item: LineItem
    if (overflow || partBytes + tail.length > max)
      item = {line, problem: {code: 'E_LINE_TOO_LONG', message: `The line is longer than ${max} bytes (the limit; see --max-line-mb).`}}
    else item = decodeLine(parts.length === 0 ? tail : Buffer.concat([...parts, tail]), line, decoder)
    parts = []
    partBytes = 0
    overflow = false
    line++
    return item
  }
  try {
    for (;;) {
      let next: IteratorResult<Buffer | string>
      try {
        next = await iterator.next()
      } catch (error) {
        yield {line, problem: streamProblem(error)}
        return
      }
      if (next.done) break
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value
      let start = 0
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        yield finishLine(chunk.subarray(start, nl))
        start = nl + 1
      }
      if (start < chunk.length && !overflow) {
        const rest = chunk.subarray(start)
        if (partBytes + rest.length > max) {
          overflow = true
          parts = []
          partBytes = 0
        } else {
          parts.push(Buffer.from(rest))
          partBytes += rest.length
        }
      }
    }
    if (partBytes > 0 || overflow) yield finishLine(Buffer.alloc(0))
  } finally {
    await iterator.return?.()
  }
}

/** The first bytes of a file (fewer when it is shorter). */
export function headBytes(path: string, count: number): Buffer {
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.alloc(count)
    const read = readSync(fd, buffer, 0, count, 0)
    return buffer.subarray(0, read)
  } finally {
    closeSync(fd)
  }
}

/**
 * The lines of a file, gunzipped when `gzip` is set. Gzip is read member by member (fhir/gzip.ts),
 * each member's CRC checked in a first pass before any of its lines is used: an empty file
 * (E_EMPTY_INPUT), not gzip (E_NOT_GZIP); a damaged member (E_GZIP_CORRUPT) or junk after the last
 * member (E_GZIP_TRAILING_DATA) costs only itself and what follows it — the lines of the members
 * before it stand; a truncated file gives its complete lines, then E_GZIP_TRUNCATED.
 */
export async function* fileLines(path: string, options: LineOptions & {gzip?: boolean} = {}): AsyncGenerator<LineItem> {
  if (!options.gzip) {
    yield* splitLines(createReadStream(path), options)
    return
  }
  let head: Buffer
  try {
    head = headBytes(path, 2)
  } catch (error) {
    yield {line: 1, problem: streamProblem(error)}
    return
  }
  if (head.length === 0) {
    yield {line: 1, problem: {code: 'E_EMPTY_INPUT', message: 'The file is empty (0 bytes: not even a gzip header).'}}
    return
  }
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) {
    yield {line: 1, problem: {code: 'E_NOT_GZIP', message: 'The file is named .gz but is not gzip data.'}}
    return
  }
  let checked: GzipWalk
  try {
    checked = await walkGzip(path)
  } catch (error) {
    yield {line: 1, problem: streamProblem(error)}
    return
  }
  const stop = checked.stop
  const truncated = stop?.kind === 'truncated'
  // A truncated member is read up to the cut (a file cut short is not damaged data); a damaged one never.
  const walk: GzipWalk = {members: 0}
  async function* trusted(): AsyncGenerator<Buffer> {
    yield* gzipMembers(path, walk, {maxMembers: checked.members + (truncated ? 1 : 0)})
    if (truncated) throw Object.assign(new Error('unexpected end of file'), {code: 'Z_BUF_ERROR'})
  }
  let next = 1
  for await (const item of splitLines(trusted(), options)) {
    next = item.line + 1
    yield item
  }
  if (stop?.kind === 'damaged') {
    yield {
      line: next,
      problem: {
        code: 'E_GZIP_CORRUPT',
        message:
          stop.member === 0
            ? 'The gzip data is damaged (a check failed): nothing is read from this file, since its lines cannot be trusted.'
            : `Gzip member ${stop.member + 1} is damaged (a check failed): its lines and those after it cannot be trusted; the ${stop.member} member(s) before it were read.`,
      },
    }
  } else if (stop?.kind === 'trailing') {
    yield {
      line: next,
      problem: {
        code: 'E_GZIP_TRAILING_DATA',
        message: `Bytes after gzip member ${stop.member} are not gzip: ignored; the lines before them were read.`,
      },
    }
  }
}

/** A first pass over a gzip file: every member inflated (output discarded) and its trailer checked. */
async function walkGzip(path: string): Promise<GzipWalk> {
  const walk: GzipWalk = {members: 0}
  for await (const chunk of gzipMembers(path, walk)) void chunk
  return walk
}

/** Whether a string holds only well-formed UTF-16 (no lone surrogate, which UTF-8 cannot store). */
export function isWellFormed(text: string): boolean {
  const native = (text as unknown as {isWellFormed?: () => boolean}).isWellFormed
  if (native) return native.call(text)
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
}
