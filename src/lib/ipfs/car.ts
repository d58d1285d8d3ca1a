import {closeSync, openSync, readSync, fstatSync} from 'node:fs'
import {writeStreamAtomic} from '../core/atomic.js'
import {CID} from 'multiformats/cid'
import {MedctlError, ExitCode, fromSystemError} from '../core/errors.js'
import {blockMatches, childLinks, readUnixfs, type Block} from './unixfs.js'

/**
 * CARv1, the IPFS archive format (https://ipld.io/specs/transport/car/carv1/):
 *
 *   varint(len(header)) | header | ( varint(len(cid) + len(block)) | cid | block )*
 *
 * where the header is the DAG-CBOR map {roots: [CID…], version: 1}. The header is tiny and of one
 * shape, so it is encoded and decoded here by hand (canonical DAG-CBOR: map keys sorted by length,
 * CIDs as tag 42 over a byte string with a leading 0x00).
 *
 * A CAR file is untrusted input: the reader hashes every block against its CID before anything
 * uses it, bounds every length, and reports any damage as E_CAR_CORRUPT (exit 4).
 */

/** Sections larger than this are refused (IPFS blocks are at most a few MiB; ours at most 256 KiB + a node). */
export const MAX_CAR_BLOCK = 4 * 1024 * 1024
const MAX_HEADER = 64 * 1024
const CID_TAG = 42

export function encodeVarint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`varint out of range: ${value}`)
  const out: number[] = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** [value, bytes read]; undefined when the input ends before the varint does. Throws on overlong input. */
export function decodeVarint(bytes: Uint8Array, offset = 0): [number, number] | undefined {
  let value = 0
  let factor = 1
  for (let i = 0; i < 9; i++) {
    if (offset + i >= bytes.length) return undefined
    const byte = bytes[offset + i] as number
    value += (byte & 0x7f) * factor
    if (byte < 0x80) {
      if (i > 0 && byte === 0) throw corrupt('a varint is not minimally encoded')
      if (!Number.isSafeInteger(value)) throw corrupt('a varint is too large')
      return [value, i + 1]
    }
    factor *= 0x80
  }
  throw corrupt('a varint is too long')
}

function corrupt(reason: string, details: Record<string, unknown> = {}): MedctlError {
  return new MedctlError('E_CAR_CORRUPT', `The CAR file is damaged or not a CAR file: ${reason}. Nothing from it was used.`, {
    exitCode: ExitCode.VERIFY_FAILED,
    details: {reason, ...details},
    suggestions: ['Ask the sender for the file again; a CAR file is checked block by block against its CIDs.'],
  })
}

// ---- header (DAG-CBOR) ----

function cborHead(major: number, length: number): Uint8Array {
  if (length < 24) return Uint8Array.of((major << 5) | length)
  if (length < 0x100) return Uint8Array.of((major << 5) | 24, length)
  if (length < 0x10000) return Uint8Array.of((major << 5) | 25, length >> 8, length & 0xff)
  return Uint8Array.of((major << 5) | 26, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff)
}

function cborText(text: string): Uint8Array {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([cborHead(3, bytes.length), bytes])
}

/** The CARv1 header as canonical DAG-CBOR: {"roots": [CID…], "version": 1}. */
export function encodeCarHeader(roots: readonly string[]): Uint8Array {
  const parts: Uint8Array[] = [cborHead(5, 2), cborText('roots'), cborHead(4, roots.length)]
  for (const root of roots) {
    const cid = CID.parse(root).bytes
    parts.push(Uint8Array.of(0xd8, CID_TAG), cborHead(2, cid.length + 1), Uint8Array.of(0), cid)
  }
  parts.push(cborText('version'), cborHead(0, 1))
  return Buffer.concat(parts)
}

/** A reader of the small DAG-CBOR subset a CARv1 header uses; anything else is refused. */
class CborReader {
  pos = 0
  constructor(private readonly bytes: Uint8Array) {}

  private byte(): number {
    if (this.pos >= this.bytes.length) throw corrupt('the header ends early')
    return this.bytes[this.pos++] as number
  }

  head(): {major: number; value: number} {
    const first = this.byte()
    const major = first >> 5
    const info = first & 0x1f
    if (info < 24) return {major, value: info}
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0
    if (size === 0) throw corrupt('the header uses an unsupported CBOR form')
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + this.byte()
    return {major, value}
  }

  take(length: number): Uint8Array {
    if (this.pos + length > this.bytes.length) throw corrupt('the header ends early')
    const out = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    return out
  }

  text(): string {
    const {major, value} = this.head()
    if (major !== 3) throw corrupt('a header key is not a string')
    return Buffer.from(this.take(value)).toString('utf8')
  }

  cid(): CID {
    const tag = this.head()
    if (tag.major !== 6 || tag.value !== CID_TAG) throw corrupt('a root is not a CID')
    const {major, value} = this.head()
    if (major !== 2 || value < 2) throw corrupt('a root is not a CID')
    const bytes = this.take(value)
    if (bytes[0] !== 0) throw corrupt('a root CID lacks its 0x00 prefix')
    try {
      return CID.decode(bytes.subarray(1))
    } catch {
      throw corrupt('a root CID does not parse')
    }
  }

  done(): boolean {
    return this.pos === this.bytes.length
  }
}

export interface CarHeader {
  version: 1
  roots: string[]
}

export function decodeCarHeader(bytes: Uint8Array): CarHeader {
  const reader = new CborReader(bytes)
  const map = reader.head()
  if (map.major !== 5) throw corrupt('the header is not a map')
  let version: number | undefined
  let roots: string[] | undefined
  for (let i = 0; i < map.value; i++) {
    const key = reader.text()
    if (key === 'version') {
      const v = reader.head()
      if (v.major !== 0) throw corrupt('the version is not an integer')
      version = v.value
    } else if (key === 'roots') {
      const list = reader.head()
      if (list.major !== 4) throw corrupt('roots is not a list')
      roots = []
      for (let j = 0; j < list.value; j++) roots.push(reader.cid().toString())
    } else {
      throw corrupt(`the header has an unknown key`)
    }
  }
  if (!reader.done()) throw corrupt('the header has trailing bytes')
  if (version !== 1) throw corrupt(`version ${version ?? 'missing'} is not CARv1`)
  if (!roots || roots.length === 0) throw corrupt('the header names no root')
  return {version: 1, roots}
}

// ---- sections ----

export function encodeCarSection(block: Block): Uint8Array {
  const cid = CID.parse(block.cid).bytes
  return Buffer.concat([encodeVarint(cid.length + block.bytes.length), cid, block.bytes])
}

/** A whole CAR in memory (small archives; use writeCarFile for large ones). */
export function encodeCar(roots: readonly string[], blocks: Iterable<Block>): Uint8Array {
  const header = encodeCarHeader(roots)
  const parts: Uint8Array[] = [encodeVarint(header.length), header]
  for (const block of blocks) parts.push(encodeCarSection(block))
  return Buffer.concat(parts)
}

/**
 * Writes a CAR file atomically (temp file, fsync, rename), streaming the blocks; duplicate
 * blocks are written once. Returns the number of blocks and bytes written.
 */
export async function writeCarFile(
  path: string,
  roots: readonly string[],
  blocks: AsyncIterable<Block> | Iterable<Block>,
  options: {mode?: number} = {},
): Promise<{blocks: number; bytes: number}> {
  let count = 0
  const seen = new Set<string>()
  const bytes = await writeStreamAtomic(
    path,
    async (write) => {
      const header = encodeCarHeader(roots)
      write(encodeVarint(header.length))
      write(header)
      for await (const block of blocks) {
        if (seen.has(block.cid)) continue
        seen.add(block.cid)
        write(encodeCarSection(block))
        count++
      }
    },
    options,
  )
  return {blocks: count, bytes}
}

/** Every block of the DAGs under `roots`, depth first, each once, read through `getBlock`. */
export async function* dagBlocks(
  roots: readonly string[],
  getBlock: (cid: string) => Promise<Uint8Array | undefined>,
): AsyncGenerator<Block> {
  const seen = new Set<string>()
  const stack = [...roots].reverse()
  while (stack.length > 0) {
    const cid = stack.pop() as string
    if (seen.has(cid)) continue
    seen.add(cid)
    const bytes = await getBlock(cid)
    if (!bytes) throw new MedctlError('E_CID_NOT_FOUND', `Block ${cid} is not in the content store.`, {exitCode: ExitCode.VERIFY_FAILED})
    yield {cid, bytes}
    stack.push(...childLinks(cid, bytes).reverse())
  }
}

/** Parses a CID at the start of `bytes`; [cid, length]. */
function readCid(bytes: Uint8Array): [CID, number] {
  try {
    const [cid, rest] = CID.decodeFirst(bytes)
    return [cid, bytes.length - rest.length]
  } catch {
    throw corrupt('a section does not start with a CID')
  }
}

/**
 * A CAR file opened for reading, with every block verified. `openCarFile` hashes each block against
 * its CID while indexing the file (offsets only: memory stays bounded whatever the size); a block
 * read later is read from the file and checked again, so a file changed after opening is caught.
 */
export class CarFile {
  private constructor(
    private fd: number | undefined,
    readonly roots: string[],
    private readonly index: Map<string, {offset: number; length: number}>,
    private readonly damagedBlocks: ReadonlySet<string> = new Set(),
  ) {}

  /**
   * `damaged: 'collect'` keeps going past a block that does not match its CID: the block is left
   * out of the index and listed in `damaged()`, and asking for it fails (E_CAR_CORRUPT) — so a
   * caller can tell which of the files in the archive was hit. Damage to the structure (header,
   * lengths, a section that is not a CID) is refused either way.
   */
  static async open(path: string, options: {damaged?: 'refuse' | 'collect'} = {}): Promise<CarFile> {
    let fd: number
    try {
      fd = openSync(path, 'r')
    } catch (error) {
      const code = (error as {code?: string}).code
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')
        throw new MedctlError('E_FILE_NOT_FOUND', `Cannot read ${path} (${code}).`, {exitCode: ExitCode.USAGE})
      throw error
    }
    try {
      const size = fstatSync(fd).size
      const read = (position: number, length: number): Uint8Array => {
        const buffer = Buffer.alloc(length)
        let got = 0
        while (got < length) {
          const n = readSync(fd, buffer, got, length - got, position + got)
          if (n === 0) break
          got += n
        }
        return buffer.subarray(0, got)
      }
      const varintAt = (position: number): [number, number] => {
        const decoded = decodeVarint(read(position, 9))
        if (!decoded) throw corrupt('the file ends inside a length', {offset: position})
        return decoded
      }
      const [headerLength, headerVarint] = varintAt(0)
      if (headerLength === 0 || headerLength > MAX_HEADER || headerVarint + headerLength > size)
        throw corrupt('the header length is out of range')
      const header = decodeCarHeader(read(headerVarint, headerLength))
      const index = new Map<string, {offset: number; length: number}>()
      const damaged = new Set<string>()
      let position = headerVarint + headerLength
      while (position < size) {
        const [length, lengthBytes] = varintAt(position)
        if (length === 0 || length > MAX_CAR_BLOCK + 128) throw corrupt('a section length is out of range', {offset: position})
        if (position + lengthBytes + length > size) throw corrupt('the file ends inside a section', {offset: position})
        const section = read(position + lengthBytes, length)
        const [cid, cidLength] = readCid(section)
        const block = section.subarray(cidLength)
        const text = cid.toString()
        if (!(await blockMatches(text, block))) {
          if (options.damaged !== 'collect') throw corrupt(`block ${text} does not match its CID`, {cid: text, offset: position})
          damaged.add(text)
        } else if (!index.has(text)) index.set(text, {offset: position + lengthBytes + cidLength, length: block.length})
        position += lengthBytes + length
      }
      for (const root of header.roots)
        if (!index.has(root))
          throw corrupt(damaged.has(root) ? `the root block ${root} does not match its CID` : `the root ${root} is not in the file`, {
            cid: root,
          })
      return new CarFile(fd, header.roots, index, damaged)
    } catch (error) {
      closeSync(fd)
      throw fromSystemError(error, path) ?? error
    }
  }

  get size(): number {
    return this.index.size
  }

  cids(): string[] {
    return [...this.index.keys()]
  }

  /** Blocks that did not match their CIDs (only when opened with `damaged: 'collect'`). */
  damaged(): string[] {
    return [...this.damagedBlocks]
  }

  async has(cid: string): Promise<boolean> {
    return this.index.has(cid)
  }

  /** The block's bytes, checked against the CID again; undefined when the CAR does not hold it. */
  async getBlock(cid: string): Promise<Uint8Array | undefined> {
    if (this.damagedBlocks.has(cid)) throw corrupt(`block ${cid} does not match its CID`, {cid})
    const entry = this.index.get(cid)
    if (!entry) return undefined
    if (this.fd === undefined) throw new Error('CAR file closed')
    const buffer = Buffer.alloc(entry.length)
    let got = 0
    while (got < entry.length) {
      const n = readSync(this.fd, buffer, got, entry.length - got, entry.offset + got)
      if (n === 0) break
      got += n
    }
    if (got !== entry.length || !(await blockMatches(cid, buffer))) throw corrupt(`block ${cid} changed after the file was checked`, {cid})
    return buffer
  }

  /** A file (UnixFS DAG) from the CAR; a block the DAG needs but the CAR lacks is E_CAR_CORRUPT. */
  async *cat(cid: string): AsyncGenerator<Uint8Array> {
    yield* readUnixfs(cid, async (c) => {
      const bytes = await this.getBlock(c)
      if (!bytes) throw corrupt(`block ${c} is missing`, {cid: c})
      return bytes
    })
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** Opens and verifies a CAR file (see CarFile). */
export function openCarFile(path: string, options: {damaged?: 'refuse' | 'collect'} = {}): Promise<CarFile> {
  return CarFile.open(path, options)
}

/** Decodes and verifies a whole CAR held in memory: roots and blocks, each block checked. */
export async function decodeCar(bytes: Uint8Array): Promise<{roots: string[]; blocks: Map<string, Uint8Array>}> {
  const first = decodeVarint(bytes, 0)
  if (!first) throw corrupt('the file ends inside a length')
  const [headerLength, headerVarint] = first
  if (headerLength === 0 || headerLength > MAX_HEADER || headerVarint + headerLength > bytes.length)
    throw corrupt('the header length is out of range')
  const header = decodeCarHeader(bytes.subarray(headerVarint, headerVarint + headerLength))
  const blocks = new Map<string, Uint8Array>()
  let position = headerVarint + headerLength
  while (position < bytes.length) {
    const decoded = decodeVarint(bytes, position)
    if (!decoded) throw corrupt('the file ends inside a length', {offset: position})
    const [length, lengthBytes] = decoded
    if (length === 0 || length > MAX_CAR_BLOCK + 128 || position + lengthBytes + length > bytes.length)
      throw corrupt('a section length is out of range', {offset: position})
    const section = bytes.subarray(position + lengthBytes, position + lengthBytes + length)
    const [cid, cidLength] = readCid(section)
    const block = section.subarray(cidLength)
    if (!(await blockMatches(cid.toString(), block)))
      throw corrupt(`block ${cid.toString()} does not match its CID`, {cid: cid.toString(), offset: position})
    blocks.set(cid.toString(), block)
    position += lengthBytes + length
  }
  for (const root of header.roots) if (!blocks.has(root)) throw corrupt(`the root ${root} is not in the file`)
  return {roots: header.roots, blocks}
}
