import {createServer} from 'node:net'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EmbeddedStore, KuboStore, readAll} from '../../src/lib/ipfs/index.js'
import {KuboMock} from '../helpers/kubo-mock.js'
import {parseEnvelope, repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'
import Database from 'better-sqlite3'

interface UploadResult {
  uploaded: number
  skipped: number
  failed: number
  bytes: number
}

describe('KuboStore against a Kubo-RPC-compatible server (Kubo itself cannot be installed here)', () => {
  let kubo: KuboMock
  beforeAll(async () => {
    kubo = new KuboMock()
    await kubo.start()
  })
  afterAll(async () => kubo.stop())

  it("adds with the embedded store's CIDs, cats, pins and answers has", async () => {
    const store = new KuboStore({url: kubo.url, retries: 0})
    const added = await store.add(Buffer.from('hello world'))
    expect(added.cid).toBe('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')
    expect(await store.has(added.cid)).toBe(false)
    await store.pin(added.cid)
    expect(await store.has(added.cid)).toBe(true)
    expect((await readAll(store.cat(added.cid))).toString()).toBe('hello world')
  })

  it('retries transient failures (500, dropped connection) with backoff, and then succeeds', async () => {
    const store = new KuboStore({url: kubo.url, retries: 3, backoffMs: 5})
    kubo.failNext(1, '500')
    kubo.failNext(1, 'drop')
    const before = kubo.requests.length
    const added = await store.add(Buffer.from('retry me'))
    expect(kubo.requests.length - before).toBe(3)
    const local = new EmbeddedStore(new Database(':memory:'))
    expect(added.cid).toBe((await local.add(Buffer.from('retry me'))).cid)
  })

  it('once the node has answered, a request that never answers times out, is retried, and gives up with E_KUBO', async () => {
    const store = new KuboStore({url: kubo.url, retries: 1, backoffMs: 5, timeoutMs: 300})
    await store.probe()
    kubo.failNext(2, 'hang')
    await expect(store.pin('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).rejects.toMatchObject({code: 'E_KUBO'})
  })

  it('does not retry a 4xx (the request is wrong, not the network)', async () => {
    const store = new KuboStore({url: `${kubo.url}/nope`, retries: 3, backoffMs: 5})
    const before = kubo.requests.length
    await expect(store.pin('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).rejects.toMatchObject({code: 'E_KUBO'})
    // the probe (answered with a 404: something listens) and the one pin request, no retries
    expect(kubo.requests.length - before).toBe(2)
  })

  it('a node that does not answer its first request fails at once with E_STORE_UNAVAILABLE, without retries', async () => {
    const store = new KuboStore({url: kubo.url, retries: 4, backoffMs: 1000, timeoutMs: 30_000, probeTimeoutMs: 300})
    kubo.failNext(1, 'hang')
    const before = kubo.requests.length
    const started = Date.now()
    await expect(store.add(Buffer.from('x'))).rejects.toMatchObject({code: 'E_STORE_UNAVAILABLE', exitCode: 1})
    expect(Date.now() - started).toBeLessThan(2000)
    expect(kubo.requests.length - before).toBe(1)
  })

  it('connection refused fails at once with E_STORE_UNAVAILABLE', async () => {
    const store = new KuboStore({url: `http://127.0.0.1:${await closedPort()}`, retries: 4, backoffMs: 1000})
    const started = Date.now()
    await expect(store.has('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).rejects.toMatchObject({
      code: 'E_STORE_UNAVAILABLE',
    })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('a node that goes down after answering fails the next request with E_STORE_UNAVAILABLE, not E_KUBO', async () => {
    const other = new KuboMock()
    await other.start()
    const store = new KuboStore({url: other.url, retries: 1, backoffMs: 5})
    await store.pin((await store.add(Buffer.from('first'))).cid)
    await other.stop()
    await expect(store.add(Buffer.from('second'))).rejects.toMatchObject({code: 'E_STORE_UNAVAILABLE'})
  })
})

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A TCP server that accepts connections and never answers: a hung node. */
async function hungServer(): Promise<{url: string; close: () => Promise<void>}> {
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((socket) => sockets.add(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as {port: number}).port
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('records upload (CLI) replicates every object to Kubo and pins it, resumably', () => {
  let t: TestHome
  let kubo: KuboMock
  beforeAll(async () => {
    t = useTempHome()
    kubo = new KuboMock()
    await kubo.start()
    await initHome(t)
    expect(
      (
        await runJson([
          'records',
          'import',
          join(repoRoot, 'test', 'fixtures', 'records', 'legacy.csv'),
          '--mapping',
          join(repoRoot, 'test', 'fixtures', 'records', 'legacy-mapping.json'),
        ])
      ).exitCode,
    ).toBe(3)
  }, 120_000)
  afterAll(async () => {
    await kubo.stop()
    await t.cleanup()
  })

  it('a failure midway leaves a partial result (exit 3); the re-run uploads only what is missing', async () => {
    const objects = (await runJson<{patients: Array<{objects: unknown[]}>}>(['records', 'list'])).envelope.result.patients.flatMap(
      (p) => p.objects,
    ).length
    expect(objects).toBeGreaterThan(3)
    // the first failure goes to the probe (a 500 is an answer: the node is up), the second to an object
    kubo.failNext(2, '500')
    const first = await runJson<UploadResult>(['records', 'upload', '--kubo', kubo.url, '--retries', '0'])
    expect(first.exitCode).toBe(3)
    expect(first.envelope.result.failed).toBe(1)
    expect(first.envelope.result.uploaded).toBe(objects - 1)
    const second = await runJson<UploadResult>(['records', 'upload', '--kubo', kubo.url])
    expect(second.exitCode).toBe(0)
    expect(second.envelope.result).toMatchObject({uploaded: 1, skipped: objects - 1, failed: 0})
    expect(kubo.pins.size).toBe(objects)
    const third = await runJson<UploadResult>(['records', 'upload', '--kubo', kubo.url])
    expect(third.envelope.result).toMatchObject({uploaded: 0, skipped: objects, failed: 0})
  })

  it('a Kubo node that is down fails the whole job at once with E_STORE_UNAVAILABLE (issue 18: it took 145 s)', async () => {
    for (const down of [{url: `http://127.0.0.1:${await closedPort()}`, close: async () => undefined}, await hungServer()]) {
      const started = Date.now()
      const r = await runJson<UploadResult>(['records', 'upload', '--kubo', down.url, '--timeout-ms', '2000', '--retries', '2'])
      const elapsed = Date.now() - started
      await down.close()
      expect(r.exitCode).toBe(1)
      expect(r.envelope.error).toMatchObject({code: 'E_STORE_UNAVAILABLE', exitCode: 1})
      expect(elapsed).toBeLessThan(5000)
    }
  })

  it('the same through bin/run.js: exit 1, the envelope on stdout, well under 5 s', async () => {
    const started = Date.now()
    const r = runBin(
      ['records', 'upload', '--kubo', `http://127.0.0.1:${await closedPort()}`, '--timeout-ms', '2000', '--retries', '2', '--json'],
      {env: t.env},
    )
    expect(Date.now() - started).toBeLessThan(8000)
    expect(r.status).toBe(1)
    expect(parseEnvelope(r.stdout).error.code).toBe('E_STORE_UNAVAILABLE')
  })

  it('without a Kubo URL it is a usage error naming the flag', async () => {
    const r = await runJson(['records', 'upload'])
    expect(r.envelope.error).toMatchObject({code: 'E_NO_KUBO', exitCode: 2})
  })
})
