import {createServer} from 'node:net'
import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EmbeddedStore, KuboProfileStore, KuboStore, contentStoreFor, openContentStore, readAll} from '../../src/lib/ipfs/index.js'
import {KuboMock} from '../helpers/kubo-mock.js'
import {useTempHome} from '../helpers/cli.js'
import {resolvePaths} from '../../src/lib/config/paths.js'

async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('one content store factory over the profile', () => {
  let kubo: KuboMock
  beforeAll(async () => {
    kubo = new KuboMock()
    await kubo.start()
  })
  afterAll(async () => kubo.stop())

  it('embedded: the blocks in the home database', async () => {
    const db = new Database(':memory:')
    const store = contentStoreFor({store: {type: 'embedded'}, db: () => db})
    expect(store).toBeInstanceOf(EmbeddedStore)
    expect(store.kind).toBe('embedded')
    const {cid} = await store.add(Buffer.from('hello world'))
    expect(cid).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
    expect(db.prepare('SELECT count(*) AS n FROM blocks').get()).toEqual({n: 1})
  })

  it("kubo: writes go to the node and are pinned there; reads try the home's own blocks first, then the node", async () => {
    const db = new Database(':memory:')
    const store = contentStoreFor({store: {type: 'kubo', url: kubo.url}, db: () => db, tuning: {retries: 0}})
    expect(store).toBeInstanceOf(KuboProfileStore)
    expect(store.kind).toBe('kubo')
    const {cid} = await store.add(Buffer.from('to the node'))
    await store.pin(cid)
    expect(kubo.pins.has(cid)).toBe(true)
    expect(db.prepare('SELECT count(*) AS n FROM blocks').get()).toEqual({n: 0})
    expect((await readAll(store.cat(cid))).toString()).toBe('to the node')
    // a block only the home holds is read without asking the node
    const local = new EmbeddedStore(db)
    const own = await local.add(Buffer.from('only here'))
    const before = kubo.requests.length
    expect((await readAll(store.cat(own.cid))).toString()).toBe('only here')
    expect(kubo.requests.length).toBe(before)
  })

  it('kubo: a node that serves other bytes for a CID is refused (E_CID_MISMATCH, exit 4)', async () => {
    const store = new KuboStore({url: kubo.url, retries: 0})
    const {cid} = await store.add(Buffer.from('genuine'))
    kubo.blocks.set(cid, Buffer.from('forged!'))
    await expect(readAll(store.cat(cid))).rejects.toMatchObject({code: 'E_CID_MISMATCH', exitCode: 4})
  })

  it('kubo down: the profile store fails fast with E_STORE_UNAVAILABLE, yet what the home holds still reads', async () => {
    const db = new Database(':memory:')
    const own = await new EmbeddedStore(db).add(Buffer.from('kept at home'))
    const store = contentStoreFor({
      store: {type: 'kubo', url: `http://127.0.0.1:${await closedPort()}`},
      db: () => db,
      tuning: {retries: 4, backoffMs: 1000},
    })
    const started = Date.now()
    await expect(store.add(Buffer.from('x'))).rejects.toMatchObject({code: 'E_STORE_UNAVAILABLE', exitCode: 1})
    await expect(readAll(store.cat('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e'))).rejects.toMatchObject({
      code: 'E_STORE_UNAVAILABLE',
    })
    expect(Date.now() - started).toBeLessThan(1000)
    expect((await readAll(store.cat(own.cid))).toString()).toBe('kept at home')
  })

  it('a Kubo URL named for one command (records upload --kubo) overrides the profile', () => {
    const store = contentStoreFor({store: {type: 'embedded'}, db: () => new Database(':memory:'), kuboUrl: kubo.url})
    expect(store).toBeInstanceOf(KuboStore)
    expect((store as KuboStore).url).toBe(kubo.url)
  })

  it('openContentStore takes the store from the profile of a session', async () => {
    const t = useTempHome()
    try {
      const paths = resolvePaths()
      const embedded = openContentStore({paths, profile: {store: {type: 'embedded'}}})
      expect(embedded.kind).toBe('embedded')
      const {cid} = await embedded.add(Buffer.from('in the home'))
      expect(await openContentStore({paths, profile: {store: {type: 'embedded'}}}).has(cid)).toBe(true)
      expect(openContentStore({paths, profile: {store: {type: 'kubo', url: kubo.url}}}).kind).toBe('kubo')
    } finally {
      await t.cleanup()
    }
  })
})
