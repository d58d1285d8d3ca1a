import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DEMO_PASSPHRASE} from '../src/lib/demo/index.js'
import {cliEnv, killHomeNode, parseEnvelope, repoRoot, runBin, useTempHome, type TestHome} from './helpers/cli.js'

type Party = 'hospital' | 'clinic' | 'lab' | 'auditor'

interface DemoResult {
  home: string
  homes: Record<Party, string>
  exchange: string
  steps: Array<{step: string; detail: string; data?: Record<string, unknown>}>
  nodeStopped: boolean
}

describe('medctl demo (subprocess, temporary home, no passphrase, no input)', () => {
  let t: TestHome
  let result: DemoResult
  let stderr: string
  beforeAll(() => {
    t = useTempHome()
    // No passphrase; only the key-derivation cost differs from a reader's run (as in the README
    // test): production scrypt on every unlock of four homes adds tens of seconds and proves
    // nothing about the demo. The closing-hint test below opens the home with the default cost.
    const env = {...t.env, MEDCTL_PASSPHRASE: ''}
    const run = runBin(['demo', '--json'], {env, timeoutMs: 600_000})
    stderr = run.stderr
    expect(run.status, run.stdout + run.stderr).toBe(0)
    result = parseEnvelope<DemoResult>(run.stdout).result
  }, 600_000)
  afterAll(async () => {
    await killHomeNode(join(t.home, 'demo', 'hospital'))
    await t.cleanup()
  })

  it('runs in a demo directory of its own, with a home per organisation, and says so', () => {
    expect(result.home).toBe(join(t.home, 'demo'))
    expect(result.homes).toEqual({
      hospital: join(result.home, 'hospital'),
      clinic: join(result.home, 'clinic'),
      lab: join(result.home, 'lab'),
      auditor: join(result.home, 'auditor'),
    })
    for (const home of Object.values(result.homes)) expect(existsSync(join(home, 'config', 'profiles.json'))).toBe(true)
    expect(stderr).toBe('') // --json: nothing but the envelope, no notes
  })

  it('the clinic, the lab and the auditor hold their own keys only: no hospital key, no pseudonym key, no records, no chain', () => {
    /** Every key file of a home, as identity/file. */
    const keysOf = (home: string) =>
      readdirSync(join(home, 'config', 'keys')).flatMap((id) => readdirSync(join(home, 'config', 'keys', id)).map((f) => `${id}/${f}`))
    const hospitalKeys = keysOf(result.homes.hospital)
    expect(hospitalKeys).toContain('local/pseudonym-key.age')
    const hospitalWallet = readFileSync(
      join(
        result.homes.hospital,
        'config',
        'keys',
        'local',
        hospitalKeys.find((k) => k.startsWith('local/') && /wallet/.test(k))?.slice('local/'.length) ?? 'missing',
      ),
    )
    for (const party of ['clinic', 'lab', 'auditor'] as const) {
      const home = result.homes[party]
      const profiles = JSON.parse(readFileSync(join(home, 'config', 'profiles.json'), 'utf8')) as {
        profiles: Record<string, {role: string; chain: {embedded: boolean}}>
      }
      expect(Object.keys(profiles.profiles)).toEqual([party])
      expect(profiles.profiles[party]).toMatchObject({role: 'member', chain: {embedded: false}})
      const keys = keysOf(home)
      expect(keys.length).toBeGreaterThan(0)
      expect(keys.every((k) => k.startsWith(`${party}/`))).toBe(true)
      expect(keys.some((k) => /pseudonym/.test(k))).toBe(false)
      // the hospital's wallet is in no other home, under any name
      for (const k of keys) expect(readFileSync(join(home, 'config', 'keys', k)).equals(hospitalWallet)).toBe(false)
      // no record index or blocks of the hospital's, no chain of its own
      expect(existsSync(join(home, 'data', 'node'))).toBe(false)
    }
  })

  it('what travels between the homes is files in exchange/: the descriptor, registrations and CAR files', () => {
    expect(readdirSync(result.exchange).sort()).toEqual([
      'audit-log.car',
      'clinic-package.car',
      'emergency-package.car',
      'network.json',
      'registration-auditor.json',
      'registration-clinic.json',
      'registration-lab.json',
      'research-export.car',
    ])
  })

  it('walks through the steps in story order', () => {
    const names = result.steps.map((s) => s.step)
    expect(names).toEqual([
      'init',
      'node',
      'network',
      'join',
      'join',
      'join',
      'import',
      'records',
      'emergency',
      'grant',
      'share',
      'fetch',
      'revoke',
      'refused',
      'break-glass',
      'export',
      'verify',
      'audit',
      'auditor',
    ])
    expect(result.steps.filter((s) => s.step === 'join').map((s) => s.data?.party)).toEqual(['clinic', 'lab', 'auditor'])
    const imported = result.steps.find((s) => s.step === 'import')?.data as {
      read: number
      imported: number
      duplicates: number
      rejected: number
      patients: number
    }
    expect(imported).toMatchObject({read: 1887, rejected: 0, patients: 6})
    expect(imported.imported + imported.duplicates).toBe(1887)
  })

  it('shows the emergency summary of patient 1', () => {
    const emergency = result.steps.find((s) => s.step === 'emergency')
    expect(emergency?.detail).toContain('emergency summary')
    const data = emergency?.data as {medications: number; conditions: number; vitals: number}
    expect(data.medications + data.conditions + data.vitals).toBeGreaterThan(0)
  })

  it("shares exactly the granted classes across homes by CAR file, refuses after the revoke, delivers a dataset the lab verifies, and the auditor gets the hospital's root", () => {
    const data = (step: string) => result.steps.find((s) => s.step === step)?.data as Record<string, unknown>
    expect((data('share').classes as string[]).sort()).toEqual(['conditions', 'labs'])
    expect(data('share')).toMatchObject({delivery: 'car', car: {out: join(result.exchange, 'clinic-package.car')}})
    // the clinic's fetch came from the CAR file, into the clinic's own home
    expect(data('fetch')).toMatchObject({source: 'car', out: join(result.homes.clinic, 'received.json')})
    expect(existsSync(join(result.homes.clinic, 'received.json'))).toBe(true)
    // break-glass: the emergency summary's classes only, and the clinic built the summary from them
    expect(data('break-glass')).toMatchObject({breakGlass: true})
    expect((data('break-glass').classes as string[]).every((c) => ['allergies', 'medications', 'conditions', 'labs'].includes(c))).toBe(
      true,
    )
    expect((data('break-glass').withheld as number) > 0).toBe(true)
    expect((data('break-glass').conditions as number) + (data('break-glass').medications as number)).toBeGreaterThan(0)
    expect(data('refused')).toMatchObject({decision: 'Deny', reason: 'Revoked'})
    expect(data('export')).toMatchObject({format: 'csv', cohort: {included: 5}, delivery: {delivery: 'car'}})
    expect(existsSync(join(result.homes.hospital, 'research-export', 'manifest.json'))).toBe(true)
    expect(data('verify')).toMatchObject({ok: true, delivery: {kind: 'car', out: join(result.homes.lab, 'research-export')}})
    expect(readFileSync(join(result.homes.lab, 'research-export', 'manifest.json'))).toEqual(
      readFileSync(join(result.homes.hospital, 'research-export', 'manifest.json')),
    )
    expect(data('audit')).toMatchObject({ok: true})
    expect(data('audit').entries as number).toBeGreaterThanOrEqual(12)
    expect(data('auditor')).toMatchObject({ok: true, root: data('audit').root, log: {kind: 'car'}})
  })

  it('stops the demo chain at the end', () => {
    expect(result.nodeStopped).toBe(true)
    const status = parseEnvelope<{running: boolean}>(
      runBin(['node', 'status', '--json'], {env: {...t.env, MEDCTL_HOME: result.homes.hospital}}).stdout,
    )
    expect(status.result.running).toBe(false)
  })

  it("the closing hint works as written: npx finds medctl, the demo passphrase opens the hospital's home", () => {
    const r = spawnSync('npx', ['medctl', 'records', 'list', '--json'], {
      cwd: repoRoot,
      env: cliEnv({...t.env, MEDCTL_HOME: result.homes.hospital, MEDCTL_PASSPHRASE: DEMO_PASSPHRASE, MEDCTL_KDF_LOGN: ''}),
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect(r.status, r.stderr).toBe(0)
    expect(parseEnvelope<{patients: unknown[]}>(r.stdout).result.patients).toHaveLength(6)
  })
})
