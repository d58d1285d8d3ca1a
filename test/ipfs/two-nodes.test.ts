import {createHash} from 'node:crypto'
import Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {CHUNK_SIZE, EmbeddedStore, KuboStore, contentStoreFor, readAll} from '../../src/lib/ipfs/index.js'
import {startIpfsNet, type IpfsNet} from '../helpers/ipfs-net.js'

/** The same deterministic bytes as test/ipfs/unixfs.test.ts (a linear congruential sequence). */
function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let x = 12345
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  return bytes
}

// The CID test/ipfs/unixfs.test.ts pins for these bytes, built there by hand from the UnixFS spec.
const KNOWN_MULTI_CHUNK_CID = 'bafybeifb22ir4mdaxco5sjblis76lkcqujcorhytmfusmay5fw44pibuoq'

/** The multihashes (hex) of the blocks a node holds in its own repo (`refs/local`: js-ipfs keys blocks by multihash). */
async function localRefs(url: string): Promise<string[]> {
  const response = await fetch(`${url}/api/v0/refs/local`, {method: 'POST', signal: AbortSignal.timeout(10_000)})
  expect(response.ok).toBe(true)
  return (await response.text())
    .split('\n')
    .filter(Boolean)
    .map((line) => multihash((JSON.parse(line) as {Ref: string}).Ref))
}

const multihash = (cid: string) => Buffer.from(CID.parse(cid).multihash.bytes).toString('hex')
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

describe("two real IPFS nodes (js-ipfs, Kubo RPC API) on loopback, through medctl's Kubo store", () => {
  let net: IpfsNet
  beforeAll(async () => {
    net = await startIpfsNet(2)
  }, 120_000)
  afterAll(async () => {
    await net?.stop()
  })

  it("a multi-chunk file added on node A is fetched by CID from node B (bitswap); its CID is the embedded store's and the known answer", async () => {
    const data = pattern(1024 * 1024 + 17)
    expect(data.length).toBeGreaterThan(4 * CHUNK_SIZE)
    const [a, b] = net.nodes

    // medctl's own embedded store: the CID it gives these bytes.
    const embedded = new EmbeddedStore(new Database(':memory:'))
    const local = await embedded.add(data)
    expect(local.cid).toBe(KNOWN_MULTI_CHUNK_CID)

    // Node A, through the factory as a profile naming a Kubo store would get it.
    const storeA = contentStoreFor({store: {type: 'kubo', url: a.url}, db: () => new Database(':memory:'), kuboUrl: a.url})
    expect(storeA.kind).toBe('kubo')
    const added = await storeA.add(data)
    expect(added.cid).toBe(local.cid)
    await storeA.pin(added.cid)

    // Node B never saw the bytes: none of their blocks is in its repo until it asks the network.
    expect(await localRefs(b.url)).not.toContain(multihash(added.cid))

    // Node B, through medctl's Kubo store: cat checks the bytes against the CID before yielding them.
    const storeB = new KuboStore({url: b.url, timeoutMs: 30_000, retries: 1})
    const fetched = await readAll(storeB.cat(added.cid))
    expect(fetched.length).toBe(data.length)
    expect(sha256(fetched)).toBe(sha256(data))
    // and block by block: the root and a raw leaf, each checked against its CID
    expect(await storeB.getBlock(added.cid)).toBeInstanceOf(Uint8Array)
    const held = await localRefs(b.url)
    expect(held).toContain(multihash(added.cid))
    expect(held.length).toBeGreaterThanOrEqual(6) // the root and its five 256 KiB leaves
    const peers = (await (await fetch(`${b.url}/api/v0/swarm/peers`, {method: 'POST'})).json()) as {Peers: Array<{Peer: string}> | null}
    expect((peers.Peers ?? []).map((p) => p.Peer)).toContain(a.peerId)
  }, 120_000)
})
