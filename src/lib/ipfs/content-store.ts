/** Where content can be read from: a content store, or a CAR file received from another party. */
export interface ContentSource {
  /** The file (UnixFS DAG) under a CID; every block is checked against its CID before it is used. */
  cat(cid: string): AsyncIterable<Uint8Array>
  has(cid: string): Promise<boolean>
  /** One raw block (checked against its CID); undefined when the source does not hold it. */
  getBlock(cid: string): Promise<Uint8Array | undefined>
}

/** What medctl needs from a content store: the embedded SQLite blocks or a Kubo node. */
export interface ContentStore extends ContentSource {
  /** Which store this is, for messages and results (never a secret). */
  readonly kind: 'embedded' | 'kubo'
  add(content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{cid: string; size: number}>
  /**
   * The streaming put, for content of any size: blocks are written as the content arrives, with
   * bounded memory. `source` may be called again when a request is retried, so it must give the
   * same bytes each time (a file read afresh, stored blocks).
   */
  addStream(source: () => AsyncIterable<Uint8Array>): Promise<{cid: string; size: number}>
  pin(cid: string): Promise<void>
}

export interface VerifyReport {
  checked: number
  corrupt: string[]
  missing: string[]
}

export async function readAll(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of source) chunks.push(chunk)
  return Buffer.concat(chunks)
}
