import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'

describe('consent commands through the CLI (embedded chain)', () => {
  let t: TestHome
  beforeAll(async () => {
    t = useTempHome()
    expect((await runJson(['init'])).exitCode).toBe(0)
    expect((await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
  }, 120_000)
  afterAll(async () => t.cleanup())

  it('contract info shows the registry and this identity\'s roles', async () => {
    const {envelope} = await runJson<{address: string; custodian: boolean; emergency: boolean; recipient: string}>(['contract', 'info'])
    expect(envelope.result).toMatchObject({custodian: true, emergency: true})
    expect(envelope.result.recipient).toMatch(/^age1/)
    const clinic = await runJson<{custodian: boolean}>(['contract', 'info', '--profile', 'clinic'])
    expect(clinic.envelope.result.custodian).toBe(false)
  })

  it('keys publish is idempotent', async () => {
    const r = await runJson<{published: boolean}>(['keys', 'publish', '--profile', 'clinic'])
    expect(r.envelope.result.published).toBe(false)
  })

  it('check: NoConsent exits 5 with the result; grant; Permit exits 0; list shows it active', async () => {
    const before = await runJson<{decision: string}>(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT'])
    expect(before.exitCode).toBe(5)
    expect(before.envelope).toMatchObject({status: 'ok', result: {decision: 'NoConsent'}})
    const g = await runJson<{consentId: string; gasUsed: string}>(['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT,HOPERAT', '--classes', 'labs,vitals', '--until', '30d'])
    expect(g.exitCode).toBe(0)
    expect(Number(g.envelope.result.gasUsed)).toBeLessThanOrEqual(80_000)
    const after = await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'vitals'])
    expect(after.exitCode).toBe(0)
    const list = await runJson<{consents: Array<{consentId: string; status: string; purposes: string[]}>}>(['consent', 'list', '--status', 'active'])
    expect(list.envelope.result.consents).toEqual([expect.objectContaining({consentId: g.envelope.result.consentId, status: 'active', purposes: ['TREAT', 'HOPERAT']})])
  })

  it('usage errors: unknown purpose, duration beyond the cap, bad date', async () => {
    expect((await runJson(['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'FUN', '--classes', 'labs', '--until', '1d'])).envelope.error).toMatchObject({code: 'E_BAD_PURPOSE', exitCode: 2})
    expect((await runJson(['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'ETREAT', '--classes', 'labs', '--until', '30d'])).envelope.error).toMatchObject({code: 'E_DURATION_TOO_LONG', exitCode: 2})
    expect((await runJson(['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'labs', '--until', 'someday'])).envelope.error).toMatchObject({code: 'E_BAD_DATE', exitCode: 2})
  })

  it('break-glass opens audited emergency access; review records it', async () => {
    const opened = await runJson<{accessId: string}>(['consent', 'break-glass', '--patient', P, '--grantee', 'clinic', '--reason', 'unconscious-on-arrival', '--hours', '2'])
    expect(opened.exitCode).toBe(0)
    expect(opened.envelope.warnings.join(' ')).toContain('flagged for review')
    const check = await runJson<{decision: string; reason: string}>(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'ETREAT'])
    expect(check.envelope.result).toMatchObject({decision: 'Permit', reason: 'BreakGlass'})
    const reviewed = await runJson<{approved: boolean}>(['consent', 'review', opened.envelope.result.accessId, '--approve'])
    expect(reviewed.envelope.result.approved).toBe(true)
    const audit = await runJson<{entries: Array<{type: string}>}>(['audit', 'show', '--action', 'break-glass,review'])
    expect(audit.envelope.result.entries.map((e) => e.type)).toEqual(['break-glass', 'review'])
  })

  it('revoke --all makes every decision for the patient Deny Revoked', async () => {
    expect((await runJson(['consent', 'revoke', '--patient', P, '--all'])).exitCode).toBe(0)
    const r = await runJson<{decision: string; reason: string}>(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT'])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.result).toMatchObject({decision: 'Deny', reason: 'Revoked'})
  })
})
