import {execFileSync} from 'node:child_process'
import * as fs from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {writeFileAtomic} from '../../src/lib/core/atomic.js'
import {parseEnvelope, runBin, useTempHome, type TestHome} from '../helpers/cli.js'

/** Issue 18 #12: a full disk is E_DISK_FULL and leaves no temporary file. */
const fault = vi.hoisted(() => ({enospcOnWrite: false}))
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  return {
    ...real,
    writeFileSync: (...args: Parameters<typeof real.writeFileSync>) => {
      if (fault.enospcOnWrite && typeof args[0] === 'number') {
        // Like a real full disk: part of the data lands, then ENOSPC.
        real.writeSync(args[0], 'partial')
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {code: 'ENOSPC', errno: -28, syscall: 'write'})
      }
      return real.writeFileSync(...args)
    },
  }
})

describe('writeFileAtomic', () => {
  let dir: string
  beforeAll(() => {
    dir = fs.mkdtempSync(join(tmpdir(), 'medctl-atomic-'))
  })
  afterAll(() => fs.rmSync(dir, {recursive: true, force: true}))

  it('writes the whole file with mode 0600 and leaves nothing else', () => {
    const target = join(dir, 'state.json')
    writeFileAtomic(target, '{"a":1}')
    expect(fs.readFileSync(target, 'utf8')).toBe('{"a":1}')
    expect(fs.statSync(target).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(dir)).toEqual(['state.json'])
  })

  it('on ENOSPC: E_DISK_FULL naming the file, the old content intact, no temp file left', () => {
    const target = join(dir, 'state.json')
    fault.enospcOnWrite = true
    try {
      expect(() => writeFileAtomic(target, '{"a":2}')).toThrow(
        expect.objectContaining({code: 'E_DISK_FULL', exitCode: 1, details: {file: target}}),
      )
    } finally {
      fault.enospcOnWrite = false
    }
    expect(fs.readFileSync(target, 'utf8')).toBe('{"a":1}')
    expect(fs.readdirSync(dir)).toEqual(['state.json'])
  })
})

/** A real full disk, when this machine lets us mount a small tmpfs (root in a container); skipped otherwise. */
describe('a full disk through the CLI (tmpfs)', () => {
  let t: TestHome
  let mount: string | undefined
  beforeAll(() => {
    t = useTempHome()
    const dir = join(t.home, 'tmpfs')
    fs.mkdirSync(dir)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], {stdio: 'ignore'})
      mount = dir
    } catch {
      mount = undefined
    }
  })
  afterAll(async () => {
    if (mount) execFileSync('umount', [mount])
    await t.cleanup()
  })

  /** Fills the file system, then frees `pages` 4 KiB pages. */
  function fill(root: string, pages: number): void {
    const reserve = join(root, 'reserve')
    if (pages > 0) fs.writeFileSync(reserve, Buffer.alloc(pages * 4096))
    try {
      fs.writeFileSync(join(root, 'filler'), Buffer.alloc(1024 * 1024))
    } catch {
      // full, as intended
    }
    fs.rmSync(reserve, {force: true})
  }

  function leftovers(root: string): string[] {
    return (fs.readdirSync(root, {recursive: true}) as string[]).filter((p) => /\.(tmp|new|staging|stale)$|\.tmp$|medctl\.lock$/.test(p))
  }

  it('profile create on a full home: E_DISK_FULL (exit 1), no temp file, no half identity', (ctx) => {
    if (!mount) return ctx.skip()
    const home = join(mount, 'home')
    const env = {...t.env, MEDCTL_HOME: home}
    const first = runBin(['profile', 'create', 'hosp', '--custodian', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337', '--json'], {
      env,
    })
    expect(first.status, first.stdout).toBe(0)
    const profilesBefore = fs.readFileSync(join(home, 'config', 'profiles.json'), 'utf8')
    for (const pages of [0, 1, 2]) {
      fill(mount, pages)
      const r = runBin(['profile', 'create', 'clinic', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337', '--json'], {env})
      expect(r.status, `${pages} pages free: ${r.stdout}${r.stderr}`).toBe(1)
      expect(parseEnvelope(r.stdout).error.code).toBe('E_DISK_FULL')
      expect(leftovers(home), `${pages} pages free`).toEqual([])
      expect(fs.existsSync(join(home, 'config', 'keys', 'clinic'))).toBe(false)
      expect(fs.readFileSync(join(home, 'config', 'profiles.json'), 'utf8')).toBe(profilesBefore)
      fs.rmSync(join(mount, 'filler'), {force: true})
    }
    // With room again, the same command works.
    const again = runBin(['profile', 'create', 'clinic', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337', '--json'], {env})
    expect(again.status, again.stdout).toBe(0)
  })

  it('keys export --out onto a full disk: E_DISK_FULL, no temp file next to the target', (ctx) => {
    if (!mount) return ctx.skip()
    const env = {...t.env, MEDCTL_HOME: join(t.home, 'home2')}
    expect(runBin(['profile', 'create', 'hosp', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337', '--json'], {env}).status).toBe(0)
    const outDir = join(mount, 'out')
    fs.mkdirSync(outDir, {recursive: true})
    fill(mount, 0)
    const r = runBin(['keys', 'export', '--yes', '--out', join(outDir, 'backup.json'), '--json'], {env})
    fs.rmSync(join(mount, 'filler'), {force: true})
    expect(r.status, r.stdout).toBe(1)
    expect(parseEnvelope(r.stdout).error.code).toBe('E_DISK_FULL')
    expect(fs.readdirSync(outDir)).toEqual([])
  })
})
