import {existsSync} from 'node:fs'
import {spawnSync} from 'node:child_process'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {DEMO_PASSPHRASE} from '../src/lib/demo/index.js'
import {parseEnvelope, repoRoot, runBin, useTempHome, type TestHome} from './helpers/cli.js'

interface DemoResult {
  home: string
  steps: Array<{step: string; detail: string; data?: Record<string, unknown>}>
  nodeStopped: boolean
}

describe('medctl demo (subprocess, temporary home, no passphrase, no input)', () => {
  let t: TestHome
  let result: DemoResult
  let stderr: string
  beforeAll(() => {
    t = useTempHome()
    const env = {...t.env, MEDCTL_PASSPHRASE: '', MEDCTL_KDF_LOGN: ''}
    const run = runBin(['demo', '--json'], {env, timeoutMs: 600_000})
    stderr = run.stderr
    expect(run.status, run.stdout + run.stderr).toBe(0)
    result = parseEnvelope<DemoResult>(run.stdout).result
  }, 600_000)
  afterAll(async () => {
    runBin(['node', 'stop'], {env: {...t.env, MEDCTL_HOME: join(t.home, 'demo')}})
    await t.cleanup()
  })

  it('runs in a demo home of its own and says so', () => {
    expect(result.home).toBe(join(t.home, 'demo'))
    expect(existsSync(join(result.home, 'config', 'profiles.json'))).toBe(true)
    expect(stderr).toBe('') // --json: nothing but the envelope, no notes
  })

  it('walks through the steps in story order', () => {
    const names = result.steps.map((s) => s.step)
    expect(names).toEqual(['init', 'node', 'profile', 'profile', 'import', 'records', 'emergency', 'grant', 'share', 'fetch', 'revoke', 'refused', 'break-glass', 'export', 'audit'])
    const imported = result.steps.find((s) => s.step === 'import')?.data as {read: number; imported: number; duplicates: number; rejected: number; patients: number}
    expect(imported).toMatchObject({read: 1887, rejected: 0, patients: 6})
    expect(imported.imported + imported.duplicates).toBe(1887)
  })

  it('shows the emergency summary of patient 1', () => {
    const emergency = result.steps.find((s) => s.step === 'emergency')
    expect(emergency?.detail).toContain('emergency summary')
    const data = emergency?.data as {medications: number; conditions: number; vitals: number}
    expect(data.medications + data.conditions + data.vitals).toBeGreaterThan(0)
  })

  it('shares exactly the granted classes, refuses after the revoke, exports a dataset and ends with an intact audit log', () => {
    const data = (step: string) => result.steps.find((s) => s.step === step)?.data as Record<string, unknown>
    expect((data('share').classes as string[]).sort()).toEqual(['conditions', 'labs'])
    // break-glass: the emergency summary's classes only, and the clinic built the summary from them
    expect(data('break-glass')).toMatchObject({breakGlass: true})
    expect((data('break-glass').classes as string[]).every((c) => ['allergies', 'medications', 'conditions', 'labs'].includes(c))).toBe(true)
    expect((data('break-glass').withheld as number) > 0).toBe(true)
    expect((data('break-glass').conditions as number) + (data('break-glass').medications as number)).toBeGreaterThan(0)
    expect(data('refused')).toMatchObject({decision: 'Deny', reason: 'Revoked'})
    expect(data('export')).toMatchObject({format: 'csv', cohort: {included: 5}})
    expect(existsSync(join(result.home, 'research-export', 'manifest.json'))).toBe(true)
    expect(data('audit')).toMatchObject({ok: true})
    expect(data('audit').entries as number).toBeGreaterThanOrEqual(12)
  })

  it('stops the demo chain at the end', () => {
    expect(result.nodeStopped).toBe(true)
    const status = parseEnvelope<{running: boolean}>(runBin(['node', 'status', '--json'], {env: {...t.env, MEDCTL_HOME: result.home}}).stdout)
    expect(status.result.running).toBe(false)
  })

  it('the closing hint works as written: npx finds medctl, the demo passphrase opens the demo home', () => {
    const r = spawnSync('npx', ['medctl', 'records', 'list', '--json'], {cwd: repoRoot, env: {...process.env, ...t.env, MEDCTL_HOME: result.home, MEDCTL_PASSPHRASE: DEMO_PASSPHRASE, MEDCTL_KDF_LOGN: ''}, encoding: 'utf8', timeout: 120_000})
    expect(r.status, r.stderr).toBe(0)
    expect(parseEnvelope<{patients: unknown[]}>(r.stdout).result.patients).toHaveLength(6)
  })
})
