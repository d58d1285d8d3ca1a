/** What medctl needs from a content store: the embedded SQLite blocks or a Kubo node. */
export interface ContentStore {
  add(content: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<{cid: string; size: number}>
  cat(cid: string): AsyncIterable<Uint8Array>
  has(cid: string): Promise<boolean>
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
