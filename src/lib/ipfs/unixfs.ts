import * as dagPb from '@ipld/dag-pb'
import {UnixFS} from 'ipfs-unixfs'
import {importByteStream, type ImportContent} from 'ipfs-unixfs-importer'
import {fixedSize} from 'ipfs-unixfs-importer/chunker'
import {balanced} from 'ipfs-unixfs-importer/layout'
import {CID} from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import {sha256} from 'multiformats/hashes/sha2'

/** Kubo's `ipfs add --cid-version=1 --raw-leaves` defaults: 256 KiB chunks, balanced DAG of 174 links. */
export const CHUNK_SIZE = 262_144
const IMPORT_OPTIONS = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({chunkSize: CHUNK_SIZE}),
  layout: balanced({maxChildrenPerNode: 174}),
} as const

export interface Block {
  cid: string
  bytes: Uint8Array
}

export interface PreparedFile {
  cid: string
  size: number
  blocks: Block[]
}

type ByteSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

/** Encodes content as UnixFS blocks, handing each block to `put` as it is produced. */
export async function encodeUnixfs(content: ByteSource, put: (block: Block) => void | Promise<void>): Promise<{cid: string; size: number}> {
  let size = 0
  async function* counted(): AsyncGenerator<Uint8Array> {
    if (content instanceof Uint8Array) {
      size += content.length
      yield content
      return
    }
    for await (const chunk of content) {
      size += chunk.length
      yield chunk
    }
  }
  const sink = {
    async put(cid: CID, bytes: Uint8Array): Promise<CID> {
      await put({cid: cid.toString(), bytes})
      return cid
    },
  }
  const result = await importByteStream(counted() as unknown as ImportContent as AsyncIterable<Uint8Array>, sink, IMPORT_OPTIONS)
  return {cid: result.cid.toString(), size}
}

/** All blocks of a file in memory (for objects that fit; see EmbeddedStore.addStream otherwise). */
export async function prepareFile(content: ByteSource): Promise<PreparedFile> {
  const blocks: Block[] = []
  const seen = new Set<string>()
  const {cid, size} = await encodeUnixfs(content, (block) => {
    if (seen.has(block.cid)) return
    seen.add(block.cid)
    blocks.push(block)
  })
  return {cid, size, blocks}
}

/** Checks that bytes hash to the CID's multihash (sha2-256 only, as we write). */
export async function blockMatches(cid: string, bytes: Uint8Array): Promise<boolean> {
  const parsed = CID.parse(cid)
  if (parsed.multihash.code !== sha256.code) return false
  const digest = await sha256.digest(bytes)
  return Buffer.from(digest.digest).equals(Buffer.from(parsed.multihash.digest))
}

/** The child CIDs of a block (none for raw leaves). */
export function childLinks(cid: string, bytes: Uint8Array): string[] {
  const parsed = CID.parse(cid)
  if (parsed.code === raw.code) return []
  if (parsed.code !== dagPb.code) throw new Error(`unsupported codec 0x${parsed.code.toString(16)}`)
  return dagPb.decode(bytes).Links.map((link) => link.Hash.toString())
}

/** Reassembles a file from its DAG, streaming leaf by leaf. */
export async function* readUnixfs(cid: string, getBlock: (cid: string) => Promise<Uint8Array | undefined>): AsyncGenerator<Uint8Array> {
  const bytes = await getBlock(cid)
  if (!bytes) throw new MissingBlockError(cid)
  const parsed = CID.parse(cid)
  if (parsed.code === raw.code) {
    yield bytes
    return
  }
  const node = dagPb.decode(bytes)
  if (node.Data) {
    const data = UnixFS.unmarshal(node.Data).data
    if (data && data.length > 0) yield data
  }
  for (const link of node.Links) yield* readUnixfs(link.Hash.toString(), getBlock)
}

export class MissingBlockError extends Error {
  constructor(readonly cid: string) {
    super(`block ${cid} is missing`)
    this.name = 'MissingBlockError'
  }
}
