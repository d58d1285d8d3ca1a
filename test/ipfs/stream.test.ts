import {randomBytes} from 'node:crypto'
import Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EmbeddedStore, KuboProfileStore, KuboStore, contentStoreFor, readAll} from '../../src/lib/ipfs/index.js'
import {KuboMock} from '../helpers/kubo-mock.js'

/** Several 256 KiB blocks and a tail. */
const content = randomBytes(5 * 262_144 + 1234)

async function* chunks(size = 100_000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < content.length; i += size) yield content.subarray(i, i + size)
}

describe('streaming put and read of multi-block content: embedded store and Kubo', () => {
  let kubo: KuboMock
  beforeAll(async () => {
    kubo = new KuboMock()
    await kubo.start()
  })
  afterAll(async () => kubo.stop())

  it('embedded: addStream gives the CID of a one-shot add and writes every block', async () => {
    const db = new Database(':memory:')
    const store = new EmbeddedStore(db)
    const streamed = await store.addStream(() => chunks())
    expect(CID.parse(streamed.cid).code).toBe(0x70)
    expect(streamed.size).toBe(content.length)
    expect(streamed.cid).toBe((await new EmbeddedStore(new Database(':memory:')).prepare(content)).cid)
    expect((db.prepare('SELECT count(*) AS n FROM blocks').get() as {n: number}).n).toBe(7)
    expect(store.hasDag(streamed.cid)).toBe(true)
    expect((await readAll(store.cat(streamed.cid))).equals(content)).toBe(true)
  })

  it('kubo: addStream sends the content as a stream, and cat walks the DAG block by block, each block checked', async () => {
    const store = new KuboStore({url: kubo.url, retries: 0})
    const added = await store.addStream(() => chunks())
    expect(added.cid).toBe((await new EmbeddedStore(new Database(':memory:')).prepare(content)).cid)
    const before = kubo.requests.length
    expect((await readAll(store.cat(added.cid))).equals(content)).toBe(true)
    expect(kubo.requests.slice(before).filter((r) => r === 'block/get').length).toBe(7)
    // one leaf replaced by other bytes: refused before those bytes are used
    const leaf = [...kubo.blocks.keys()].find((c) => c !== added.cid && CID.parse(c).code === 0x55) as string
    const genuine = kubo.blocks.get(leaf) as Uint8Array
    kubo.blocks.set(leaf, randomBytes(genuine.length))
    await expect(readAll(store.cat(added.cid))).rejects.toMatchObject({code: 'E_CID_MISMATCH', exitCode: 4})
    kubo.blocks.set(leaf, genuine)
  })

  it("kubo profile: addStream keeps the home's own copy, replicates it to the node under the same CID and pins it", async () => {
    const db = new Database(':memory:')
    const store = contentStoreFor({store: {type: 'kubo', url: kubo.url}, db: () => db, tuning: {retries: 0}}) as KuboProfileStore
    const added = await store.addStream(() => chunks())
    expect(kubo.pins.has(added.cid)).toBe(true)
    expect(store.local.hasDag(added.cid)).toBe(true)
    const before = kubo.requests.length
    expect((await readAll(store.cat(added.cid))).equals(content)).toBe(true)
    expect(kubo.requests.length).toBe(before)
    // a partial local copy: read from the node instead
    const leaf = [...kubo.blocks.keys()].find((c) => c !== added.cid && CID.parse(c).code === 0x55) as string
    db.prepare('DELETE FROM blocks WHERE cid = ?').run(leaf)
    expect(store.local.hasDag(added.cid)).toBe(false)
    expect((await readAll(store.cat(added.cid))).equals(content)).toBe(true)
    expect(kubo.requests.length).toBeGreaterThan(before)
  })
})
