import {chmodSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {daemonEnv} from '../../src/lib/chain/anvil.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {TEST_PASSPHRASE, parseEnvelope, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

/** Issue 18 #9: the passphrase must not outlive the command. */
describe('the anvil daemon medctl starts gets no MEDCTL_* variable', () => {
  let t: TestHome
  beforeAll(() => {
    t = useTempHome()
  })
  afterAll(async () => t.cleanup())

  it('daemonEnv drops every MEDCTL_* variable and keeps the rest', () => {
    expect(daemonEnv({MEDCTL_PASSPHRASE: 's', MEDCTL_HOME: '/h', medctl_passphrase: 's', PATH: '/bin', HOME: '/root'})).toEqual({
      PATH: '/bin',
      HOME: '/root',
    })
  })

  it('/proc/<anvil pid>/environ holds neither the passphrase nor any MEDCTL_ variable', () => {
    const started = runBin(['node', 'start', '--json'], {env: t.env})
    expect(started.status, started.stdout + started.stderr).toBe(0)
    const pid = parseEnvelope<{pid: number}>(started.stdout).result.pid
    const info = JSON.parse(readFileSync(join(resolvePaths({env: t.env}).nodeDir, 'node.json'), 'utf8')) as {pid: number}
    expect(info.pid).toBe(pid)
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
    expect(environ.some((v) => v.startsWith('PATH='))).toBe(true) // it is the daemon's real environment
    expect(environ.join('\n')).not.toContain(TEST_PASSPHRASE)
    expect(environ.filter((v) => v.startsWith('MEDCTL_'))).toEqual([])
  })
})

describe('--passphrase-file / MEDCTL_PASSPHRASE_FILE', () => {
  let t: TestHome
  let file: string
  const secret = 'file-passphrase-not-secret'
  beforeAll(async () => {
    t = useTempHome()
    delete process.env.MEDCTL_PASSPHRASE
    file = join(t.home, 'pass.txt')
    writeFileSync(file, `${secret}\n`, {mode: 0o600})
    const generated = await runJson(['keys', 'generate', 'alice', '--passphrase-file', file])
    expect(generated.exitCode, JSON.stringify(generated.envelope)).toBe(0)
    expect(
      (await runJson(['profile', 'create', 'alice', '--identity', 'alice', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337']))
        .exitCode,
    ).toBe(0)
  })
  afterAll(async () => {
    delete process.env.MEDCTL_PASSPHRASE_FILE
    await t.cleanup()
  })

  it('unlocks with the first line of the file (trailing newline stripped), with no warning at mode 0600', async () => {
    const r = await runJson<{address: string}>(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', file])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.warnings).toEqual([])
    // The passphrase is exactly the line: with the newline kept it would not unlock.
    writeFileSync(file, `${secret}\r\n`)
    expect((await runJson(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', file])).exitCode).toBe(0)
  })

  it('MEDCTL_PASSPHRASE_FILE does the same; it wins over MEDCTL_PASSPHRASE', () => {
    const r = runBin(['keys', 'export', '--yes', '--profile', 'alice', '--json'], {
      env: {...t.env, MEDCTL_PASSPHRASE: 'wrong-passphrase', MEDCTL_PASSPHRASE_FILE: file},
    })
    expect(r.status, r.stdout).toBe(0)
  })

  it('warns when the file is readable by group or others', async () => {
    chmodSync(file, 0o644)
    const r = await runJson(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', file])
    chmodSync(file, 0o600)
    expect(r.exitCode).toBe(0)
    expect(r.envelope.warnings.join(' ')).toMatch(/readable by group or others/)
  })

  it('a wrong passphrase in the file is E_BAD_PASSPHRASE; a missing or empty file is E_PASSPHRASE_FILE (exit 2)', async () => {
    const wrong = join(t.home, 'wrong.txt')
    writeFileSync(wrong, 'not-the-passphrase\n', {mode: 0o600})
    expect((await runJson(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', wrong])).envelope.error.code).toBe(
      'E_BAD_PASSPHRASE',
    )
    const missing = await runJson(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', join(t.home, 'nope.txt')])
    expect(missing.envelope.error).toMatchObject({code: 'E_PASSPHRASE_FILE', exitCode: 2})
    expect(missing.exitCode).toBe(2)
    const empty = join(t.home, 'empty.txt')
    writeFileSync(empty, '\n', {mode: 0o600})
    expect((await runJson(['keys', 'export', '--yes', '--profile', 'alice', '--passphrase-file', empty])).envelope.error.code).toBe(
      'E_PASSPHRASE_FILE',
    )
  })
})
