import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {EmbeddedStore, KuboStore, readAll} from '../../src/lib/ipfs/index.js'
import {KuboMock} from '../helpers/kubo-mock.js'
import {repoRoot, runJson, useTempHome, type TestHome} from '../helpers/cli.js'
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

  it('adds with the embedded store\'s CIDs, cats, pins and answers has', async () => {
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

  it('times out a request that never answers, and gives up after its retries with E_KUBO', async () => {
    const store = new KuboStore({url: kubo.url, retries: 1, backoffMs: 5, timeoutMs: 300})
    kubo.failNext(2, 'hang')
    await expect(store.pin('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).rejects.toMatchObject({code: 'E_KUBO'})
  })

  it('does not retry a 4xx (the request is wrong, not the network)', async () => {
    const store = new KuboStore({url: `${kubo.url}/nope`, retries: 3, backoffMs: 5})
    const before = kubo.requests.length
    await expect(store.pin('bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e')).rejects.toMatchObject({code: 'E_KUBO'})
    expect(kubo.requests.length - before).toBe(1)
  })
})

describe('records upload (CLI) replicates every object to Kubo and pins it, resumably', () => {
  let t: TestHome
  let kubo: KuboMock
  beforeAll(async () => {
    t = useTempHome()
    kubo = new KuboMock()
    await kubo.start()
    expect((await runJson(['init'])).exitCode).toBe(0)
    expect((await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'legacy.csv'), '--mapping', join(repoRoot, 'test', 'fixtures', 'records', 'legacy-mapping.json')])).exitCode).toBe(3)
  }, 120_000)
  afterAll(async () => {
    await kubo.stop()
    await t.cleanup()
  })

  it('a failure midway leaves a partial result (exit 3); the re-run uploads only what is missing', async () => {
    const objects = (await runJson<{patients: Array<{objects: unknown[]}>}>(['records', 'list'])).envelope.result.patients.flatMap((p) => p.objects).length
    expect(objects).toBeGreaterThan(3)
    kubo.failNext(1, '500')
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

  it('without a Kubo URL it is a usage error naming the flag', async () => {
    const r = await runJson(['records', 'upload'])
    expect(r.envelope.error).toMatchObject({code: 'E_NO_KUBO', exitCode: 2})
  })
})
