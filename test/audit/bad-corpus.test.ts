import {cpSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

/**
 * The static audit corpus (test/fixtures/bad/audit/, written by test/audit/make-corpus.ts): tampered
 * logs, junk heads, forged and garbage proofs. Each is checked offline from an empty home (no
 * profile), against the corpus custodian given with --custodian, and must give the stable code and
 * exit code listed in cases.json — never E_UNEXPECTED. Cases that need anchors on a chain are in
 * trust.test.ts.
 */
interface Case {
  path: string
  kind: 'log' | 'proof'
  code: string | null
  exitCode: number
  note: string
  firstBadIndex?: number
  flags?: string[]
}

const root = join(repoRoot, 'test', 'fixtures', 'bad', 'audit')
const {custodian, cases} = JSON.parse(readFileSync(join(root, 'cases.json'), 'utf8')) as {custodian: string; cases: Case[]}

describe('audit corpus: every fixture has a case and every case a fixture', () => {
  it('lists them all (at least 20 bad kinds)', () => {
    expect(cases.map((c) => c.path).sort()).toEqual(
      readdirSync(root)
        .filter((f) => f !== 'cases.json')
        .sort(),
    )
    expect(cases.filter((c) => c.exitCode === 4).length).toBeGreaterThanOrEqual(20)
  })
})

describe('audit corpus through the CLI, offline, from an empty home', () => {
  let t: TestHome
  let work: string
  beforeAll(() => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-audit-corpus-'))
  })
  afterAll(async () => {
    rmSync(work, {recursive: true, force: true})
    await t.cleanup()
  })

  for (const c of cases) {
    it(`${c.path}: ${c.note} → ${c.code ?? 'ok'} (exit ${c.exitCode})`, async () => {
      // a private copy: verify must never depend on, nor change, the fixture
      const target = join(work, c.path)
      cpSync(join(root, c.path), target, {recursive: true})
      const args = c.kind === 'log' ? ['audit', 'verify', '--log', target] : ['audit', 'check-proof', target]
      const r = await runJson<{ok: boolean; code?: string; firstBadIndex?: number}>([
        ...args,
        '--offline',
        '--custodian',
        custodian,
        ...(c.flags ?? []),
      ])
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(c.exitCode)
      if (c.exitCode === 0) expect(r.envelope.result.ok).toBe(true)
      else if (r.envelope.status !== 'error') {
        expect(r.envelope.status).toBe('failed')
        expect(r.envelope.result.ok).toBe(false)
        expect(r.envelope.result.code).toBe(c.code)
        if (c.firstBadIndex !== undefined) expect(r.envelope.result.firstBadIndex).toBe(c.firstBadIndex)
      } else expect(r.envelope.error.code).toBe(c.code)
    })
  }

  it('real exit codes and stdout/stderr split (subprocess): a junk heads line is E_BAD_HEAD exit 4, never E_UNEXPECTED', () => {
    const r = runBin(['audit', 'verify', '--log', join(root, 'log-heads-junk-line'), '--offline', '--custodian', custodian], {env: t.env})
    expect(r.status).toBe(4)
    expect(r.stdout).toMatch(/E_BAD_HEAD/)
    expect(r.stdout).toMatch(/anchors\s+not checked/)
    expect(r.stderr).not.toMatch(/E_UNEXPECTED|at .*\.js:\d+/)
  })
})
