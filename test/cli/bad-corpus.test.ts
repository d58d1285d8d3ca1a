import {cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

/**
 * The hostile-input corpus for the home and the keys (issue 18, items 4 and 12): every file under
 * test/fixtures/bad/home/ and test/fixtures/bad/keys/ is driven through the real CLI, which must
 * answer with the stable code and exit code listed in the folder's cases.json, never
 * E_UNEXPECTED, and never write outside the home.
 */
interface HomeCase {
  file?: string
  delete?: string
  target?: string
  command: string[]
  code: string | null
  exitCode: number
  note: string
}

interface KeyCase {
  file: string
  code: string | null
  exitCode: number
  note: string
}

const fixtures = join(repoRoot, 'test', 'fixtures', 'bad')
const homeCases = JSON.parse(readFileSync(join(fixtures, 'home', 'cases.json'), 'utf8')) as HomeCase[]
const keyCases = JSON.parse(readFileSync(join(fixtures, 'keys', 'cases.json'), 'utf8')) as KeyCase[]

/** Every file and directory under root, as paths relative to it. */
function walk(root: string): string[] {
  if (!existsSync(root)) return []
  return readdirSync(root, {withFileTypes: true, recursive: true})
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort()
}

describe('bad corpus: every fixture has a case, and every case a fixture', () => {
  for (const [folder, cases] of [
    ['home', homeCases],
    ['keys', keyCases],
  ] as const) {
    it(folder, () => {
      const files = readdirSync(join(fixtures, folder))
        .filter((f) => f !== 'cases.json')
        .sort()
      const listed = (cases as Array<{file?: string}>).flatMap((c) => (c.file ? [c.file] : [])).sort()
      expect(listed).toEqual(files)
    })
  }
})

describe('bad corpus through the CLI', () => {
  let t: TestHome
  let base: string
  let sandboxes: string
  beforeAll(async () => {
    t = useTempHome()
    // A custodian profile on an external chain: everything these cases touch works without a node.
    const created = await runJson(['profile', 'create', 'hosp', '--custodian', '--rpc-url', 'http://127.0.0.1:9', '--chain-id', '31337'])
    expect(created.exitCode, JSON.stringify(created.envelope)).toBe(0)
    expect((await runJson(['records', 'list', '--profile', 'hosp'])).exitCode).toBe(0) // creates the database
    base = t.home
    sandboxes = mkdtempSync(join(tmpdir(), 'medctl-bad-'))
  })
  afterAll(async () => {
    process.env.MEDCTL_HOME = t.home
    rmSync(sandboxes, {recursive: true, force: true})
    await t.cleanup()
  })

  /** A copy of the base home at sandbox/<depth dirs>/home; returns [sandbox, home]. */
  function freshHome(name: string): [string, string] {
    const sandbox = join(sandboxes, name)
    const home = join(sandbox, 'a', 'b', 'c', 'home')
    mkdirSync(home, {recursive: true})
    // Not the live database's WAL: a copy is the database file alone (openDatabase recreates the schema).
    cpSync(base, home, {recursive: true, filter: (src) => !/medctl\.db-(wal|shm)$/.test(src)})
    process.env.MEDCTL_HOME = home
    return [sandbox, home]
  }

  function outside(sandbox: string, home: string): string[] {
    return walk(sandbox).filter((p) => !join(sandbox, p).startsWith(home) && !home.startsWith(join(sandbox, p)))
  }

  homeCases.forEach((c, i) => {
    it(`home: ${c.file ?? `delete ${c.delete}`} (${c.note}) -> ${c.code ?? 'ok'}`, async () => {
      const [sandbox, home] = freshHome(`home-${i}`)
      if (c.file) writeFileSync(join(home, c.target as string), readFileSync(join(fixtures, 'home', c.file)))
      else rmSync(join(home, c.delete as string))
      const {envelope, exitCode} = await runJson(c.command)
      if (c.code) {
        expect(envelope.status, JSON.stringify(envelope)).toBe('error')
        expect(envelope.error.code, JSON.stringify(envelope)).toBe(c.code)
        expect(envelope.error.exitCode).toBe(c.exitCode)
      } else expect(envelope.status, JSON.stringify(envelope)).toBe('ok')
      expect(exitCode).toBe(c.exitCode)
      // A corrupt file is named (the user must find it), and nothing was written outside the home.
      if (
        c.code === 'E_CORRUPT_CONFIG' ||
        c.code === 'E_CORRUPT_KEYSTORE' ||
        c.code === 'E_CORRUPT_DATABASE' ||
        c.code === 'E_MISSING_KEY'
      ) {
        expect(envelope.error.message).toContain(join(home, (c.target ?? c.delete) as string))
      }
      expect(outside(sandbox, home)).toEqual([])
      expect(walk(home).filter((p) => p.endsWith('.tmp') || p.endsWith('.staging') || p.endsWith('medctl.lock'))).toEqual([])
    })
  })

  keyCases.forEach((c, i) => {
    it(`keys import: ${c.file} (${c.note}) -> ${c.code ?? 'ok'}`, async () => {
      const [sandbox, home] = freshHome(`keys-${i}`)
      const before = walk(home)
      expect(existsSync('/tmp/pwned-keys')).toBe(false)
      const {envelope, exitCode} = await runJson(['keys', 'import', '--file', join(fixtures, 'keys', c.file)])
      expect(exitCode, JSON.stringify(envelope)).toBe(c.exitCode)
      if (c.code) {
        expect(envelope.error.code, JSON.stringify(envelope)).toBe(c.code)
        // Refused before anything was written: the home is exactly as it was.
        expect(walk(home)).toEqual(before)
      } else {
        expect(envelope.status).toBe('ok')
        expect(existsSync(join(home, 'config', 'keys', 'imported', 'wallet.json'))).toBe(true)
      }
      expect(outside(sandbox, home)).toEqual([])
      expect(existsSync('/tmp/pwned-keys')).toBe(false)
    })
  })
})
