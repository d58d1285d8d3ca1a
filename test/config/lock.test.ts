import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {acquireHomeLock, lockHolder, type LockHolder} from '../../src/lib/config/lock.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {parseEnvelope, repoRoot, runBin, runJson, spawnBin, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

/** A process that stays alive until killed: a stand-in for another medctl holding the lock. */
function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {stdio: 'ignore'})
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'})
  return Number(child.stdout)
}

function procStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

function writeLock(file: string, holder: Partial<LockHolder>): void {
  writeFileSync(
    file,
    `${JSON.stringify({host: hostname(), command: 'records import', startedAt: '2024-01-01T00:00:00.000Z', token: 'other', ...holder})}\n`,
    {mode: 0o600},
  )
}

describe('home lock (unit)', () => {
  let dir: string
  const children: ChildProcess[] = []
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medctl-lock-'))
  })
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
    rmSync(join(dir, 'medctl.lock'), {force: true})
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const paths = () => ({lockFile: join(dir, 'medctl.lock')})

  it('is taken and released; the file holds pid, host and command', () => {
    const lock = acquireHomeLock(paths(), 'records import')
    const holder = JSON.parse(readFileSync(paths().lockFile, 'utf8')) as LockHolder
    expect(holder).toMatchObject({pid: process.pid, host: hostname(), command: 'records import'})
    expect(lockHolder(paths())?.pid).toBe(process.pid)
    lock.release()
    expect(existsSync(paths().lockFile)).toBe(false)
  })

  it('a live holder makes the second writer fail fast with E_BUSY naming its pid', () => {
    const other = sleeper()
    children.push(other)
    writeLock(paths().lockFile, {pid: other.pid as number, procStart: procStart(other.pid as number)})
    let error: unknown
    try {
      acquireHomeLock(paths(), 'consent grant')
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({code: 'E_BUSY', exitCode: 1, details: {pid: other.pid, command: 'records import'}})
    expect((error as Error).message).toContain(`pid ${other.pid}`)
    // The holder's lock is untouched.
    expect((JSON.parse(readFileSync(paths().lockFile, 'utf8')) as LockHolder).pid).toBe(other.pid)
  })

  it('a lock left by a dead process is taken over', () => {
    writeLock(paths().lockFile, {pid: deadPid()})
    const lock = acquireHomeLock(paths(), 'records import')
    expect((JSON.parse(readFileSync(paths().lockFile, 'utf8')) as LockHolder).pid).toBe(process.pid)
    lock.release()
  })

  it('a lock held by a killed, not yet reaped process (a zombie) is taken over', () => {
    const other = sleeper()
    children.push(other)
    writeLock(paths().lockFile, {pid: other.pid as number, procStart: procStart(other.pid as number)})
    expect(() => acquireHomeLock(paths(), 'records import')).toThrow(expect.objectContaining({code: 'E_BUSY'}))
    other.kill('SIGKILL')
    // Synchronously, so this process cannot reap it: wait until the kernel shows it as a zombie.
    const deadline = Date.now() + 10_000
    while (!/\) Z /.test(readFileSync(`/proc/${other.pid}/stat`, 'utf8'))) if (Date.now() > deadline) throw new Error('never a zombie')
    acquireHomeLock(paths(), 'records import').release()
  })

  it('a lock whose pid now belongs to a later process (pid reuse) is taken over', () => {
    const other = sleeper()
    children.push(other)
    writeLock(paths().lockFile, {pid: other.pid as number, procStart: '1'})
    acquireHomeLock(paths(), 'records import').release()
  })

  it('an unreadable lock file (not written by medctl) is taken over', () => {
    writeFileSync(paths().lockFile, 'garbage')
    acquireHomeLock(paths(), 'records import').release()
    expect(existsSync(paths().lockFile)).toBe(false)
  })

  it('a holder on another host is never judged stale', () => {
    writeLock(paths().lockFile, {pid: deadPid(), host: 'some-other-host.example'})
    expect(() => acquireHomeLock(paths(), 'records import')).toThrow(expect.objectContaining({code: 'E_BUSY'}))
  })

  it("is re-entrant within one process, and release never removes another holder's lock", () => {
    const a = acquireHomeLock(paths(), 'demo')
    const b = acquireHomeLock(paths(), 'records import')
    b.release()
    expect(existsSync(paths().lockFile)).toBe(true)
    a.release()
    expect(existsSync(paths().lockFile)).toBe(false)
    const c = acquireHomeLock(paths(), 'x')
    writeLock(paths().lockFile, {pid: 1, token: 'someone-else'})
    c.release()
    expect(existsSync(paths().lockFile)).toBe(true)
  })
})

describe('one writer per home (CLI)', () => {
  let t: TestHome
  const children: ChildProcess[] = []
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
  }, 180_000)
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL')
  })
  afterAll(async () => t.cleanup())

  it('a writer fails fast with E_BUSY (exit 1) naming the holder; readers are not blocked', async () => {
    const other = sleeper()
    children.push(other)
    const lockFile = resolvePaths({env: t.env}).lockFile
    writeLock(lockFile, {pid: other.pid as number, procStart: procStart(other.pid as number)})
    const writer = runBin(['profile', 'create', 'clinic', '--json'], {env: t.env})
    expect(writer.status).toBe(1)
    const envelope = parseEnvelope(writer.stdout)
    expect(envelope.error).toMatchObject({code: 'E_BUSY', exitCode: 1, details: {pid: other.pid}})
    expect(envelope.error.message).toContain(`pid ${other.pid}`)
    const reader = runBin(['profile', 'list', '--json'], {env: t.env})
    expect(reader.status).toBe(0)
    expect(parseEnvelope<{profiles: Array<{name: string}>}>(reader.stdout).result.profiles.map((p) => p.name)).toEqual(['local'])
    // Once the holder is gone the lock is stale and the next writer takes it over.
    const exited = new Promise((resolve) => other.once('exit', resolve))
    other.kill('SIGKILL')
    await exited // reaped: the pid is gone, not a zombie
    const after = runBin(['profile', 'create', 'clinic', '--json'], {env: t.env})
    expect(after.status, after.stdout).toBe(0)
    expect(existsSync(lockFile)).toBe(false)
  })

  it('two concurrent records import into one home: exactly one runs, the other is E_BUSY, nothing is stored twice', async () => {
    const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
    const run = () =>
      new Promise<{status: number | null; stdout: string}>((resolve) => {
        const child = spawnBin(['records', 'import', samples, '--no-anchor', '--json'], t.env)
        children.push(child)
        let stdout = ''
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
        child.on('close', (status) => resolve({status, stdout}))
      })
    const results = await Promise.all([run(), run()])
    const envelopes = results.map((r) => parseEnvelope<{imported: number; duplicates: number}>(r.stdout))
    const busy = envelopes.filter((e) => e.status === 'error')
    const ok = envelopes.filter((e) => e.status === 'ok')
    expect(ok, JSON.stringify(envelopes)).toHaveLength(1)
    expect(busy).toHaveLength(1)
    expect(busy[0]?.error.code).toBe('E_BUSY')
    expect(results.map((r) => r.status).sort()).toEqual([0, 1])
    const imported = ok[0]!.result.imported
    expect(imported).toBeGreaterThan(0)
    // The index holds each resource once: the stored count is the winner's, and a rerun imports nothing new.
    const list = await runJson<{patients: Array<{resources: number}>}>(['records', 'list'])
    const stored = list.envelope.result.patients.reduce((sum, p) => sum + p.resources, 0)
    expect(stored).toBeGreaterThan(0)
    const again = runBin(['records', 'import', samples, '--no-anchor', '--json'], {env: t.env})
    const rerun = parseEnvelope<{imported: number; duplicates: number}>(again.stdout)
    expect(rerun.result.imported).toBe(0)
    expect(stored).toBeLessThanOrEqual(imported)
    expect(existsSync(resolvePaths({env: t.env}).lockFile)).toBe(false)
  }, 300_000)
})
