/**
 * Issue 16, the unlocked session: `medctl unlock` / `lock` and the agent behind them, through the
 * real CLI (bin/run.js subprocesses, no terminal). MEDCTL_DEBUG_KDF_LOG makes every passphrase key
 * derivation (scrypt) observable: one line per derivation.
 */
import {spawnSync} from 'node:child_process'
import {chmodSync, existsSync, lstatSync, readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import {createConnection} from 'node:net'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {openSignedGrant} from '../../src/lib/consent/signed-grant.js'
import {parseUnlockDuration} from '../../src/lib/session/agent-protocol.js'
import {TEST_PASSPHRASE, parseEnvelope, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

const REGISTRY = '0x0000000000000000000000000000000000000001'
const GRANTEE = '0x0000000000000000000000000000000000000002'
const PATIENT = 'urn:oid:2.16.840.1.113883.4.1|123-45-6789'
/** No passphrase from anywhere (and no terminal: runBin pipes stdin). */
const NO_PASSPHRASE = {MEDCTL_PASSPHRASE: undefined, MEDCTL_PASSPHRASE_FILE: undefined}

interface UnlockResult {
  profile: string
  socket: string
  pid: number
  deadline: string
  address: string
  replaced: boolean
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(what: string, probe: () => boolean, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs
  while (Date.now() < deadline) {
    if (probe()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** Every file under dir (recursively), sockets excluded. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return filesUnder(path)
    return entry.isFile() ? [path] : []
  })
}

/** One raw protocol exchange with the agent, as any process of the user could do it. */
function rawRequest(socket: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = ''
    const connection = createConnection({path: socket})
    connection.setEncoding('utf8')
    connection.on('connect', () => connection.write(`${line}\n`))
    connection.on('data', (chunk: string) => (text += chunk))
    connection.on('end', () => resolve(JSON.parse(text.split('\n')[0] as string) as Record<string, unknown>))
    connection.on('error', reject)
  })
}

describe('medctl unlock / lock: an unlocked session held by a per-user agent', () => {
  let t: TestHome
  let kdfLog: string
  let grantFile: string
  let address: string
  let otherAddress: string
  let subjectWithPassphrase: string
  const started = new Set<number>()

  const kdfCount = (): number => (existsSync(kdfLog) ? readFileSync(kdfLog, 'utf8').split('\n').filter(Boolean).length : 0)
  const resetKdf = (): void => rmSync(kdfLog, {force: true})

  function unlock(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
    const r = runBin(['unlock', ...args, '--json'], {env: {...t.env, ...env}})
    const envelope = parseEnvelope<UnlockResult>(r.stdout)
    if (envelope.status === 'ok') started.add(envelope.result.pid)
    return {...r, envelope}
  }

  /** A command that needs the wallet (EIP-712 signature) and the pseudonym key (the subject), and no chain. */
  function signGrant(env: NodeJS.ProcessEnv) {
    const r = runBin(
      [
        'consent',
        'sign',
        '--patient',
        PATIENT,
        '--grantee',
        GRANTEE,
        '--purpose',
        'TREAT',
        '--classes',
        'labs',
        '--until',
        '30d',
        '--epoch',
        '0',
        '--out',
        grantFile,
        '--json',
      ],
      {
        env: {...t.env, MEDCTL_DEBUG_KDF_LOG: kdfLog, ...env},
      },
    )
    return {...r, envelope: parseEnvelope<{subject: string; signer: string}>(r.stdout)}
  }

  beforeAll(async () => {
    // The set-up (identities and profiles) runs in-process: only what the tests below run goes
    // through bin/run.js subprocesses.
    t = useTempHome()
    kdfLog = join(t.home, 'kdf.log')
    grantFile = join(t.home, 'grant.json')
    const setup = [
      ['keys', 'generate', 'cust', '--custodian'],
      [
        'profile',
        'create',
        'cust',
        '--custodian',
        '--identity',
        'cust',
        '--rpc-url',
        'http://127.0.0.1:9',
        '--chain-id',
        '31337',
        '--registry',
        REGISTRY,
        '--use',
      ],
      ['keys', 'generate', 'other'],
      [
        'profile',
        'create',
        'other',
        '--identity',
        'other',
        '--rpc-url',
        'http://127.0.0.1:9',
        '--chain-id',
        '31337',
        '--registry',
        REGISTRY,
      ],
    ]
    for (const args of setup) {
      const r = await runJson(args)
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    }
    address = (await runJson<{address: string}>(['keys', 'show', '--profile', 'cust'])).envelope.result.address
    otherAddress = (await runJson<{address: string}>(['keys', 'show', '--profile', 'other'])).envelope.result.address
    expect(address).toMatch(/^0x[0-9a-fA-F]{40}$/)
  })

  afterAll(async () => {
    runBin(['lock', '--all', '--json'], {env: t.env})
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGTERM')
    await t.cleanup()
  })

  it('without a session, a command needs the passphrase: none is E_PASSPHRASE_REQUIRED (exit 2); with it the keys are derived (the KDF log counts them)', () => {
    resetKdf()
    const none = signGrant(NO_PASSPHRASE)
    expect(none.status).toBe(2)
    expect(none.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
    const withPassphrase = signGrant({})
    expect(withPassphrase.status, withPassphrase.stdout).toBe(0)
    subjectWithPassphrase = withPassphrase.envelope.result.subject
    // wallet keystore + age identity + pseudonym key: three scrypt derivations.
    expect(kdfCount()).toBe(3)
  })

  it('unlock checks the passphrase before starting anything: a wrong one is E_BAD_PASSPHRASE and leaves no socket', () => {
    const r = unlock([], {MEDCTL_PASSPHRASE: 'not-the-passphrase'})
    expect(r.status).toBe(1)
    expect(r.envelope.error.code).toBe('E_BAD_PASSPHRASE')
    expect(existsSync(join(t.home, 'agent', 'cust.sock'))).toBe(false)
    const none = unlock([], NO_PASSPHRASE)
    expect(none.status).toBe(2)
    expect(none.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
  })

  it('--for takes 90s, 15m, 2h, 1h30m from 1s to 12h; anything else is E_BAD_DURATION (exit 2) saying what is accepted', () => {
    expect([
      parseUnlockDuration('90s'),
      parseUnlockDuration('15m'),
      parseUnlockDuration('2h'),
      parseUnlockDuration('1h30m'),
      parseUnlockDuration('12h'),
    ]).toEqual([90_000, 900_000, 7_200_000, 5_400_000, 43_200_000])
    for (const bad of ['15', 'soon', '', '0s', '13h', '12h1s', '-5m', '1m2h', '1.5h']) {
      expect(() => parseUnlockDuration(bad), bad).toThrow(expect.objectContaining({code: 'E_BAD_DURATION', exitCode: 2}))
    }
    // Through the CLI: the code, exit 2 and the suggestion, and no agent started.
    for (const bad of ['soon', '13h']) {
      const r = unlock(['--for', bad])
      expect(r.status, bad).toBe(2)
      expect(r.envelope.error.code, bad).toBe('E_BAD_DURATION')
      expect(r.envelope.error.suggestions.join(' ')).toMatch(/90s, 15m, 2h or 1h30m/)
    }
    expect(existsSync(join(t.home, 'agent', 'cust.sock'))).toBe(false)
  })

  it("unlock --json reports the socket, profile and deadline (15 min by default); the socket is 0600 in a 0700 directory, both the user's", () => {
    const before = Date.now()
    const r = unlock()
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const result = r.envelope.result
    expect(result.profile).toBe('cust')
    expect(result.address).toBe(address)
    expect(result.socket).toBe(join(t.home, 'agent', 'cust.sock'))
    const deadline = Date.parse(result.deadline)
    expect(deadline).toBeGreaterThanOrEqual(before + 15 * 60_000 - 1000)
    expect(deadline).toBeLessThanOrEqual(Date.now() + 15 * 60_000)
    expect(alive(result.pid)).toBe(true)
    const socket = lstatSync(result.socket)
    expect(socket.isSocket()).toBe(true)
    expect(socket.mode & 0o777).toBe(0o600)
    expect(socket.uid).toBe(process.getuid?.())
    const dir = statSync(join(t.home, 'agent'))
    expect(dir.mode & 0o777).toBe(0o700)
    expect(dir.uid).toBe(process.getuid?.())
  })

  it('under the unlocked session a command derives no key: it works with no passphrase at all, or a wrong one, and gives the same results', () => {
    resetKdf()
    const signed = signGrant(NO_PASSPHRASE)
    expect(signed.status, signed.stdout + signed.stderr).toBe(0)
    expect(signed.envelope.warnings).toEqual([])
    // The pseudonym key from the agent names the patient as the passphrase-derived one did, and
    // the wallet's EIP-712 signature verifies to the identity's address.
    expect(signed.envelope.result.subject).toBe(subjectWithPassphrase)
    expect(openSignedGrant(readFileSync(grantFile, 'utf8'), {chainId: 31337, registry: REGISTRY}).signer).toBe(address)
    const wrong = signGrant({MEDCTL_PASSPHRASE: 'not-the-passphrase'})
    expect(wrong.status, wrong.stdout).toBe(0)
    expect(kdfCount()).toBe(0)
  })

  it("the keys live in the agent's memory only: not in any file of the home, not in its argv, not in its environment", () => {
    const exported = runBin(['keys', 'export', '--yes', '--json'], {env: {...t.env, ...NO_PASSPHRASE}})
    expect(exported.status, exported.stdout).toBe(0)
    const keys = parseEnvelope<{privateKey: string; ageIdentity: string; pseudonymKey: string; address: string}>(exported.stdout).result
    expect(keys.address).toBe(address)
    const secrets = [keys.privateKey.slice(2).toLowerCase(), keys.ageIdentity, keys.pseudonymKey]
    for (const file of filesUnder(t.home)) {
      const text = readFileSync(file).toString('latin1')
      for (const secret of secrets) expect(text.toLowerCase().includes(secret.toLowerCase()), file).toBe(false)
    }
    const {pid} = parseEnvelope<{pid: number}>(runBin(['unlock', '--status', '--json'], {env: t.env}).stdout).result
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    expect(cmdline).toContain('agent-main.js')
    for (const secret of [...secrets, TEST_PASSPHRASE]) {
      expect(cmdline.includes(secret)).toBe(false)
      expect(environ.includes(secret)).toBe(false)
    }
    expect(environ.split('\0').filter((v) => v.startsWith('MEDCTL_'))).toEqual([])
  })

  it('unlock --status and profile show say whether the profile is unlocked, and until when, with no passphrase', () => {
    const status = runBin(['unlock', '--status', '--json'], {env: {...t.env, ...NO_PASSPHRASE}})
    expect(status.status).toBe(0)
    expect(parseEnvelope<{unlocked: boolean; profile: string; deadline: string}>(status.stdout).result).toMatchObject({
      unlocked: true,
      profile: 'cust',
    })
    const shown = parseEnvelope<{session: {unlocked: boolean; deadline: string | null}}>(
      runBin(['profile', 'show', '--json'], {env: {...t.env, ...NO_PASSPHRASE}}).stdout,
    ).result
    expect(shown.session.unlocked).toBe(true)
    expect(shown.session.deadline).toMatch(/^\d{4}-\d\d-\d\dT/)
    const other = parseEnvelope<{session: {unlocked: boolean}}>(runBin(['profile', 'show', 'other', '--json'], {env: t.env}).stdout).result
    expect(other.session).toEqual({unlocked: false, deadline: null})
  })

  it('the agent is keyed per profile: a request for another profile or identity is refused, and that profile still needs its passphrase', async () => {
    const socket = join(t.home, 'agent', 'cust.sock')
    const own = await rawRequest(socket, JSON.stringify({v: 1, op: 'identity', profile: 'cust', identity: 'cust', address}))
    expect(own.ok).toBe(true)
    for (const request of [
      {v: 1, op: 'identity', profile: 'other', identity: 'other', address: otherAddress},
      {v: 1, op: 'identity', profile: 'other', identity: 'cust', address},
      {v: 1, op: 'identity', profile: 'cust', identity: 'other', address: otherAddress},
    ]) {
      const refused = await rawRequest(socket, JSON.stringify(request))
      expect(refused, JSON.stringify(request)).toMatchObject({ok: false, code: 'E_AGENT_WRONG_PROFILE'})
      expect(refused).not.toHaveProperty('keys')
    }
    expect(await rawRequest(socket, 'not json')).toMatchObject({ok: false, code: 'E_AGENT_BAD_REQUEST'})
    expect(await rawRequest(socket, JSON.stringify({v: 99, op: 'status'}))).toMatchObject({ok: false, code: 'E_AGENT_BAD_REQUEST'})
    const otherExport = runBin(['keys', 'export', '--yes', '--profile', 'other', '--json'], {env: {...t.env, ...NO_PASSPHRASE}})
    expect(otherExport.status).toBe(2)
    expect(parseEnvelope(otherExport.stdout).error.code).toBe('E_PASSPHRASE_REQUIRED')
  })

  it("another user's process cannot connect to the socket; an agent directory others can enter is not used", () => {
    const socket = join(t.home, 'agent', 'cust.sock')
    const dir = join(t.home, 'agent')
    const uid = process.getuid?.()
    expect(lstatSync(socket).mode & 0o077).toBe(0)
    if (uid === 0) {
      // As root the test can be another user: nobody (65534) tries to connect.
      const connectAs = () =>
        spawnSync(
          process.execPath,
          [
            '-e',
            `require('net').createConnection(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(3) })`,
          ],
          {
            uid: 65534,
            gid: 65534,
            cwd: '/',
            encoding: 'utf8',
            timeout: 20_000,
          },
        )
      const blocked = connectAs()
      expect(blocked.stdout.trim()).toBe('EACCES')
      // Even with the directory opened up, the socket's own mode (0600) keeps them out.
      chmodSync(dir, 0o755)
      try {
        expect(connectAs().stdout.trim()).toBe('EACCES')
      } finally {
        chmodSync(dir, 0o700)
      }
    }
    // A client refuses to use an agent whose directory group or others may enter, and says why.
    chmodSync(dir, 0o711)
    try {
      const r = signGrant(NO_PASSPHRASE)
      expect(r.status).toBe(2)
      expect(r.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
      const withPassphrase = signGrant({})
      expect(withPassphrase.status).toBe(0)
      expect(withPassphrase.envelope.warnings.join(' ')).toMatch(/not used .*mode 711/)
    } finally {
      chmodSync(dir, 0o700)
    }
  })

  it('a second unlock replaces the agent with a new deadline', async () => {
    const first = parseEnvelope<{pid: number}>(runBin(['unlock', '--status', '--json'], {env: t.env}).stdout).result.pid
    const r = unlock(['--for', '1h30m'])
    expect(r.status, r.stdout).toBe(0)
    expect(r.envelope.result.replaced).toBe(true)
    expect(r.envelope.result.pid).not.toBe(first)
    await until('the replaced agent to exit', () => !alive(first))
    const deadline = Date.parse(r.envelope.result.deadline)
    expect(deadline - Date.now()).toBeGreaterThan(89 * 60_000)
    expect(signGrant(NO_PASSPHRASE).status).toBe(0)
  })

  it('lock ends the session: the agent exits, its socket goes, the passphrase is needed again; locking again is a no-op', async () => {
    const {pid} = parseEnvelope<{pid: number}>(runBin(['unlock', '--status', '--json'], {env: t.env}).stdout).result
    const locked = runBin(['lock', '--json'], {env: t.env})
    expect(locked.status).toBe(0)
    expect(parseEnvelope<{locked: string[]}>(locked.stdout).result.locked).toEqual(['cust'])
    expect(existsSync(join(t.home, 'agent', 'cust.sock'))).toBe(false)
    await until('the agent to exit', () => !alive(pid))
    const r = signGrant(NO_PASSPHRASE)
    expect(r.status).toBe(2)
    expect(r.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
    expect(parseEnvelope<{locked: string[]}>(runBin(['lock', '--json'], {env: t.env}).stdout).result.locked).toEqual([])
    expect(parseEnvelope<{unlocked: boolean}>(runBin(['unlock', '--status', '--json'], {env: t.env}).stdout).result.unlocked).toBe(false)
  })

  it('the agent exits on its deadline (--for 2s) and removes its socket; then the passphrase is needed again', async () => {
    const r = unlock(['--for', '2s'])
    expect(r.status, r.stdout).toBe(0)
    const {pid, socket} = r.envelope.result
    expect(Date.parse(r.envelope.result.deadline) - Date.now()).toBeLessThanOrEqual(2000)
    await until('the agent to exit at its deadline', () => !alive(pid))
    expect(existsSync(socket)).toBe(false)
    const after = signGrant(NO_PASSPHRASE)
    expect(after.status).toBe(2)
    expect(after.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
  })

  it('a socket left by a dead agent is cleaned up and the command falls back to the passphrase', async () => {
    const r = unlock()
    expect(r.status, r.stdout).toBe(0)
    const {pid, socket} = r.envelope.result
    process.kill(pid, 'SIGKILL')
    await until('the killed agent to be gone', () => !alive(pid))
    expect(lstatSync(socket).isSocket()).toBe(true) // left behind
    const none = signGrant(NO_PASSPHRASE)
    expect(none.status).toBe(2)
    expect(none.envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
    expect(existsSync(socket)).toBe(false)
    resetKdf()
    const withPassphrase = signGrant({})
    expect(withPassphrase.status).toBe(0)
    expect(withPassphrase.envelope.warnings).toEqual([])
    expect(kdfCount()).toBe(3)
  })

  it('deleting a profile ends its unlocked session', async () => {
    const r = unlock(['--profile', 'other'])
    expect(r.status, r.stdout).toBe(0)
    expect(r.envelope.result.profile).toBe('other')
    const deleted = runBin(['profile', 'delete', 'other', '--yes', '--json'], {env: t.env})
    expect(deleted.status, deleted.stdout).toBe(0)
    await until("the deleted profile's agent to exit", () => !alive(r.envelope.result.pid))
    expect(existsSync(r.envelope.result.socket)).toBe(false)
  })
})
