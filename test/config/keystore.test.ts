import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Keystore} from '../../src/lib/config/keystore.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {TEST_PASSPHRASE, parseEnvelope, runBin, useTempHome, type TestHome} from '../helpers/cli.js'

describe('keystore', () => {
  let t: TestHome
  beforeAll(() => {
    t = useTempHome()
  })
  afterAll(async () => t.cleanup())

  it('generates an identity whose files are all mode 0600 and hold no plaintext secret', async () => {
    const paths = resolvePaths({env: t.env})
    const keystore = new Keystore(paths)
    const info = await keystore.generate('alice', TEST_PASSPHRASE, {pseudonymKey: true})
    expect(info.address).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(info.recipient).toMatch(/^age1/)
    const dir = join(paths.keysDir, 'alice')
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    const unlocked = await new Keystore(paths).unlock('alice', TEST_PASSPHRASE)
    for (const file of readdirSync(dir)) {
      expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600)
      const bytes = readFileSync(join(dir, file), 'utf8')
      expect(bytes).not.toContain(unlocked.wallet.privateKey.slice(2))
      expect(bytes).not.toContain(unlocked.ageIdentity)
      expect(bytes).not.toContain(unlocked.pseudonymKey?.toString('hex'))
    }
  })

  it('a wrong passphrase fails with E_BAD_PASSPHRASE and changes nothing', async () => {
    const paths = resolvePaths({env: t.env})
    const dir = join(paths.keysDir, 'alice')
    const before = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'))
    await expect(new Keystore(paths).unlock('alice', 'wrong passphrase')).rejects.toMatchObject({code: 'E_BAD_PASSPHRASE'})
    const after = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'))
    expect(after).toEqual(before)
  })

  it('export round-trips through import, and the CLI refuses export without --yes', async () => {
    const paths = resolvePaths({env: t.env})
    const keystore = new Keystore(paths)
    const exported = await keystore.export('alice', TEST_PASSPHRASE)
    const imported = await keystore.import(exported, TEST_PASSPHRASE, 'alice-copy')
    expect(imported.address).toBe(exported.address)
    expect(imported.recipient).toBe(exported.recipient)
    expect((await keystore.unlock('alice-copy', TEST_PASSPHRASE)).pseudonymKey?.toString('hex')).toBe(exported.pseudonymKey)
    await expect(keystore.import({format: 'other'}, TEST_PASSPHRASE, 'x')).rejects.toMatchObject({code: 'E_BAD_IDENTITY_FILE', exitCode: 2})
  })

  it('CLI: no output shows a private key unless keys export --yes asked for it', async () => {
    const init = runBin(['init', '--json'], {env: t.env})
    expect(init.status).toBe(0)
    const exported = parseEnvelope<{privateKey: string; ageIdentity: string; pseudonymKey: string}>(
      runBin(['keys', 'export', '--yes', '--json'], {env: t.env}).stdout,
    ).result
    expect(exported.privateKey).toMatch(/^0x[0-9a-f]{64}$/)
    const outputs = [
      init.stdout,
      runBin(['keys', 'list', '--json'], {env: t.env}).stdout,
      runBin(['keys', 'show', '--json'], {env: t.env}).stdout,
      runBin(['keys', 'show'], {env: t.env}).stdout,
      runBin(['profile', 'show', '--json'], {env: t.env}).stdout,
      runBin(['profile', 'list'], {env: t.env}).stdout,
    ]
    const refused = runBin(['keys', 'export', '--json'], {env: t.env})
    expect(refused.status).toBe(2)
    outputs.push(refused.stdout, refused.stderr)
    for (const out of outputs) {
      expect(out).not.toContain(exported.privateKey.slice(2))
      expect(out).not.toContain(exported.ageIdentity)
      expect(out).not.toContain(exported.pseudonymKey)
    }
    const wrong = runBin(['keys', 'export', '--yes', '--json'], {env: {...t.env, MEDCTL_PASSPHRASE: 'not the passphrase'}})
    expect(wrong.status).toBe(1)
    expect(parseEnvelope(wrong.stdout).error.code).toBe('E_BAD_PASSPHRASE')
  })
})
