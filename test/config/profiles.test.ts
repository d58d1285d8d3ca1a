import {statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

interface Summary {
  name: string
  current: boolean
  role: string
  address: string
  recipient: string
  chain: {rpcUrl: string | null; chainId: number; registry: string | null}
  store: {type: string; url?: string}
}

describe('profile commands (in-process, JSON parsed)', () => {
  let t: TestHome
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
  })
  afterAll(async () => t.cleanup())

  it('profile show --json returns the public shape and no secret', async () => {
    const {envelope} = await runJson<Summary>(['profile', 'show'])
    expect(Object.keys(envelope.result)).toEqual(expect.arrayContaining(['name', 'address', 'recipient', 'chain', 'store']))
    expect(envelope.result.chain).toMatchObject({chainId: 31337})
    expect(envelope.result.chain.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1/)
    expect(JSON.stringify(envelope)).not.toMatch(/privateKey|AGE-SECRET-KEY|pseudonymKey/)
  })

  it('create makes a profile with its own identity on the same chain and store; the file is 0600', async () => {
    const local = (await runJson<Summary>(['profile', 'show'])).envelope.result
    const {envelope, exitCode} = await runJson<Summary>(['profile', 'create', 'clinic'])
    expect(exitCode).toBe(0)
    expect(envelope.result.address).not.toBe(local.address)
    expect(envelope.result.recipient).not.toBe(local.recipient)
    expect(envelope.result.role).toBe('member')
    expect(envelope.result.chain.chainId).toBe(local.chain.chainId)
    expect(envelope.result.store.type).toBe('embedded')
    expect(statSync(join(t.home, 'config', 'profiles.json')).mode & 0o777).toBe(0o600)
    const dup = await runJson(['profile', 'create', 'clinic'])
    expect(dup.exitCode).toBe(2)
    expect(dup.envelope.error.code).toBe('E_PROFILE_EXISTS')
    const bad = await runJson(['profile', 'create', 'Bad_Name'])
    expect(bad.envelope.error.code).toBe('E_BAD_PROFILE_NAME')
  })

  it('--profile and MEDCTL_PROFILE pick the profile; use switches the current one', async () => {
    expect((await runJson<Summary>(['profile', 'show', '--profile', 'clinic'])).envelope.result.name).toBe('clinic')
    process.env.MEDCTL_PROFILE = 'clinic'
    try {
      expect((await runJson<Summary>(['keys', 'show'])).envelope.result.name).toBe('clinic')
    } finally {
      delete process.env.MEDCTL_PROFILE
    }
    expect((await runJson<{current: string}>(['profile', 'use', 'clinic'])).envelope.result.current).toBe('clinic')
    expect((await runJson<Summary>(['profile', 'show'])).envelope.result.name).toBe('clinic')
    await runJson(['profile', 'use', 'local'])
  })

  it('set validates keys and values', async () => {
    const ok = await runJson<{key: string}>(['profile', 'set', 'store.url', 'http://127.0.0.1:5001', '--profile', 'clinic'])
    expect(ok.exitCode).toBe(0)
    const kubo = await runJson(['profile', 'set', 'store.type', 'kubo', '--profile', 'clinic'])
    expect(kubo.exitCode).toBe(0)
    expect((await runJson<Summary>(['profile', 'show', 'clinic'])).envelope.result.store).toEqual({
      type: 'kubo',
      url: 'http://127.0.0.1:5001',
    })
    const badValue = await runJson(['profile', 'set', 'chain.registry', 'not-an-address'])
    expect(badValue).toMatchObject({exitCode: 2, envelope: {error: {code: 'E_BAD_SETTING'}}})
    const badKey = await runJson(['profile', 'set', 'nope', 'x'])
    expect(badKey.exitCode).toBe(2)
  })

  it('delete needs --yes and then removes the profile (and its keys with --keys)', async () => {
    const refused = await runJson(['profile', 'delete', 'clinic'])
    expect(refused).toMatchObject({exitCode: 2, envelope: {error: {code: 'E_CONFIRMATION_REQUIRED'}}})
    const deleted = await runJson<{deleted: string; keysDeleted: boolean}>(['profile', 'delete', 'clinic', '--yes', '--keys'])
    expect(deleted.envelope.result).toMatchObject({deleted: 'clinic', keysDeleted: true})
    const list = await runJson<{profiles: Summary[]}>(['profile', 'list'])
    expect(list.envelope.result.profiles.map((p) => p.name)).toEqual(['local'])
    const keys = await runJson<{identities: Array<{name: string}>}>(['keys', 'list'])
    expect(keys.envelope.result.identities.map((i) => i.name)).toEqual(['local'])
  })

  it('deleting the current profile never switches silently to a neighbour: the custodian becomes current, and the command says so', async () => {
    expect((await runJson(['profile', 'create', 'clinic2'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'lab', '--use'])).exitCode).toBe(0)
    const deleted = await runJson<{current: string | null}>(['profile', 'delete', 'lab', '--yes'])
    expect(deleted.envelope.result.current).toBe('local')
    expect(deleted.envelope.warnings.join(' ')).toContain('the current profile is now "local"')
    expect((await runJson<Summary>(['profile', 'show'])).envelope.result.name).toBe('local')
  })
})
