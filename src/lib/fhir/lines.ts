import {closeSync, createReadStream, openSync, readSync} from 'node:fs'
import {createGunzip} from 'node:zlib'

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
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) return {code: 'E_GZIP_CORRUPT', message: `The gzip data cannot be decompressed (${e.code}).`}
  if (typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code)) return {code: 'E_READ_FAILED', message: `The input could not be read (${e.code}).`}
  return {code: 'E_READ_FAILED', message: 'The input could not be read.'}
}

function decodeLine(bytes: Buffer, line: number, decoder: TextDecoder): LineItem {
  let end = bytes.length
  if (end > 0 && bytes[end - 1] === 0x0d) end--
  let start = 0
  if (line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3
  if (bytes.subarray(start, end).includes(0)) return {line, problem: {code: 'E_BINARY_INPUT', message: 'The line is binary data (it holds NUL bytes), not text.'}}
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
    if (overflow || partBytes + tail.length > max) item = {line, problem: {code: 'E_LINE_TOO_LONG', message: `The line is longer than ${max} bytes (the limit; see --max-line-mb).`}}
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
 * The decompressed chunks of a gzip file, in order. Unlike iterating the gunzip stream itself, every
 * chunk zlib produced before an error is delivered before the error is thrown (a stream destroyed
 * by an error drops what it had buffered), so a truncated file yields all it holds.
 */
export async function* gunzipChunks(path: string): AsyncGenerator<Buffer> {
  const source = createReadStream(path)
  const gunzip = createGunzip()
  const queue: Buffer[] = []
  let failure: unknown
  let ended = false
  let wake: (() => void) | undefined
  const signal = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  gunzip.on('data', (chunk: Buffer) => {
    queue.push(chunk)
    if (queue.length >= 16) gunzip.pause()
    signal()
  })
  gunzip.on('end', () => {
    ended = true
    signal()
  })
  const fail = (error: unknown): void => {
    failure ??= error
    signal()
  }
  gunzip.on('error', fail)
  source.on('error', fail)
  source.pipe(gunzip)
  try {
    for (;;) {
      const chunk = queue.shift()
      if (chunk) {
        if (queue.length < 4 && gunzip.isPaused()) gunzip.resume()
        yield chunk
        continue
      }
      if (failure !== undefined) throw failure
      if (ended) return
      await new Promise<void>((resolve) => {
        wake = resolve
      })
    }
  } finally {
    source.destroy()
    gunzip.destroy()
  }
}

/**
 * Whether a gzip error means the data is damaged: corrupt deflate data, a CRC that does not match,
 * or bytes after a member that are not another member (zlib drops the output of the write that
 * fails, so even the member before the junk cannot be read whole). Not: a file cut short.
 */
function damaged(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'Z_DATA_ERROR'
}

/**
 * A first pass over a gzip file: decompresses it all (discarding the output) and says whether the
 * data is damaged. Corrupt deflate data can decode into plausible lines before zlib notices (the
 * CRC is checked only at the end), so a damaged file is refused whole rather than read line by line.
 */
export async function gzipIntegrity(path: string): Promise<{damaged: boolean; bytes: number}> {
  let bytes = 0
  try {
    for await (const chunk of gunzipChunks(path)) bytes += chunk.length
  } catch (error) {
    return {damaged: damaged(error), bytes}
  }
  return {damaged: false, bytes}
}

/**
 * The lines of a file, gunzipped when `gzip` is set. Gzip problems become line problems: an empty
 * file (E_EMPTY_INPUT), not gzip (E_NOT_GZIP), damaged data or junk after the last member
 * (E_GZIP_CORRUPT, nothing read from it), a truncated file (its complete lines, then E_GZIP_TRUNCATED).
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
  if ((await gzipIntegrity(path)).damaged) {
    yield {line: 1, problem: {code: 'E_GZIP_CORRUPT', message: 'The gzip data is damaged (a check failed): nothing is read from this file, since its lines cannot be trusted.'}}
    return
  }
  yield* splitLines(gunzipChunks(path), options)
}

/** Whether a string holds only well-formed UTF-16 (no lone surrogate, which UTF-8 cannot store). */
export function isWellFormed(text: string): boolean {
  const native = (text as unknown as {isWellFormed?: () => boolean}).isWellFormed
  if (native) return native.call(text)
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)
}
