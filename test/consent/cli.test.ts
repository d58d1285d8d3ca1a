import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'

describe('consent commands through the CLI (embedded chain)', () => {
  let t: TestHome
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
  }, 120_000)
  afterAll(async () => t.cleanup())

  it("contract info shows the registry and this identity's roles", async () => {
    const {envelope} = await runJson<{address: string; custodian: boolean; emergency: boolean; recipient: string}>(['contract', 'info'])
    expect(envelope.result).toMatchObject({custodian: true, emergency: true})
    expect(envelope.result.recipient).toMatch(/^age1/)
    const clinic = await runJson<{custodian: boolean}>(['contract', 'info', '--profile', 'clinic'])
    expect(clinic.envelope.result.custodian).toBe(false)
  })

  it('contract deploy: a new registry for a profile, recorded in it, its recipient published', async () => {
    expect((await runJson(['profile', 'create', 'second', '--custodian'])).exitCode).toBe(0)
    const deployed = await runJson<{address: string; profile: string}>(['contract', 'deploy', '--profile', 'second'])
    expect(deployed.exitCode).toBe(0)
    const shown = await runJson<{chain: {registry: string}}>(['profile', 'show', '--profile', 'second'])
    expect(shown.envelope.result.chain.registry).toBe(deployed.envelope.result.address)
    const local = await runJson<{chain: {registry: string}}>(['profile', 'show'])
    expect(local.envelope.result.chain.registry).not.toBe(deployed.envelope.result.address)
    expect((await runJson<{published: boolean}>(['keys', 'publish', '--profile', 'second'])).envelope.result.published).toBe(false)
  })

  it('keys publish is idempotent', async () => {
    const r = await runJson<{published: boolean}>(['keys', 'publish', '--profile', 'clinic'])
    expect(r.envelope.result.published).toBe(false)
  })

  interface Granted {
    consents: Array<{purpose: string; consentId: string; gasUsed: string; noop: boolean; replaced?: string}>
  }
  interface Listed {
    consents: Array<{consentId: string; status: string; purpose: string; purposes: string[]; classes: string[]}>
  }

  it('check: NoConsent exits 5 with the result; one consent per purpose; Permit exits 0; list shows them active', async () => {
    const before = await runJson<{decision: string}>(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT'])
    expect(before.exitCode).toBe(5)
    expect(before.envelope).toMatchObject({status: 'denied', exitCode: 5, result: {decision: 'NoConsent'}})
    const g = await runJson<Granted>([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT,HOPERAT',
      '--classes',
      'labs,vitals',
      '--until',
      '30d',
    ])
    expect(g.exitCode).toBe(0)
    expect(g.envelope.result.consents.map((c) => c.purpose)).toEqual(['TREAT', 'HOPERAT'])
    for (const c of g.envelope.result.consents) expect(Number(c.gasUsed)).toBeLessThanOrEqual(60_000)
    const after = await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'vitals'])
    expect(after.exitCode).toBe(0)
    const list = await runJson<{consents: Array<Listed['consents'][number] & {granteeProfile?: string}>}>([
      'consent',
      'list',
      '--status',
      'active',
    ])
    expect(list.envelope.result.consents.map((c) => [c.consentId, c.purpose])).toEqual(
      g.envelope.result.consents.map((c) => [c.consentId, c.purpose]),
    )
    // People read the grantee by the profile name they know it as.
    expect(list.envelope.result.consents.map((c) => c.granteeProfile)).toEqual(['clinic', 'clinic'])
    const table = runBin(['consent', 'list', '--status', 'active'], {env: t.env})
    expect(table.stdout).toMatch(/\tclinic \(0x[0-9a-fA-F]{8}…\)\t/)
  })

  it('a grant for another purpose stands beside the first; a new grant for the same purpose replaces it, said out loud', async () => {
    const pay = await runJson<Granted>([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'HPAYMT',
      '--classes',
      'claims',
      '--until',
      '30d',
    ])
    expect(pay.exitCode).toBe(0)
    expect(pay.envelope.warnings).toEqual([])
    expect(pay.envelope.result.consents[0]?.replaced).toBeUndefined()
    expect(
      (await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'labs'])).exitCode,
    ).toBe(0)
    expect(
      (await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'HPAYMT', '--classes', 'claims'])).exitCode,
    ).toBe(0)

    const oldTreat = (await runJson<Listed>(['consent', 'list', '--purpose', 'TREAT', '--status', 'active'])).envelope.result.consents[0]
      ?.consentId as string
    const narrower = await runJson<Granted>([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
    ])
    expect(narrower.envelope.result.consents[0]?.replaced).toBe(oldTreat)
    expect(narrower.envelope.warnings.join(' ')).toContain(`${oldTreat} was replaced`)
    const treat = (await runJson<Listed>(['consent', 'list', '--purpose', 'TREAT'])).envelope.result.consents
    expect(treat.map((c) => c.status).sort()).toEqual(['active', 'superseded'])
    expect(
      (await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'vitals'])).exitCode,
    ).toBe(5)
  })

  it('a patient the vault has never seen: E_UNKNOWN_PATIENT (exit 2) unless --allow-unknown-patient', async () => {
    const r = await runJson([
      'consent',
      'grant',
      '--patient',
      'http://nope|1',
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '1d',
    ])
    expect(r.exitCode).toBe(2)
    expect(r.envelope.error.code).toBe('E_UNKNOWN_PATIENT')
    expect((await runJson<Listed>(['consent', 'list', '--patient', 'http://nope|1'])).envelope.result.consents).toEqual([])
    const allowed = await runJson<Granted>([
      'consent',
      'grant',
      '--patient',
      'http://nope|1',
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '1d',
      '--allow-unknown-patient',
    ])
    expect(allowed.exitCode).toBe(0)
  })

  it('revoke: by id, then again (noop, nothing sent); by patient, grantee and purpose; a superseded id is a noop too', async () => {
    const pay = (await runJson<Listed>(['consent', 'list', '--patient', P, '--purpose', 'HPAYMT'])).envelope.result.consents[0]
      ?.consentId as string
    const first = await runJson<{revoked: Array<{consentId: string; noop: boolean; txHash?: string}>}>(['consent', 'revoke', pay])
    expect(first.exitCode).toBe(0)
    expect(first.envelope.result.revoked).toEqual([
      expect.objectContaining({consentId: pay, noop: false, txHash: expect.stringMatching(/^0x/)}),
    ])
    const rpcUrl = (await runJson<{rpcUrl: string}>(['node', 'status'])).envelope.result.rpcUrl
    const blockBefore = (await runJson<{blockNumber: number}>(['node', 'status'])).envelope.result.blockNumber
    const again = await runJson<{noop: boolean; revoked: Array<{noop: boolean; reason: string; txHash?: string}>}>([
      'consent',
      'revoke',
      pay,
    ])
    expect(again.exitCode).toBe(0)
    expect(again.envelope.result).toMatchObject({noop: true, revoked: [{noop: true, reason: 'already-revoked'}]})
    expect(again.envelope.result.revoked[0]?.txHash).toBeUndefined()
    expect((await runJson<{blockNumber: number}>(['node', 'status'])).envelope.result.blockNumber).toBe(blockBefore)
    expect(rpcUrl).toMatch(/^http/)

    const superseded = (await runJson<Listed>(['consent', 'list', '--patient', P, '--purpose', 'TREAT', '--status', 'superseded'])).envelope
      .result.consents[0]?.consentId as string
    expect((await runJson<{revoked: Array<{reason: string}>}>(['consent', 'revoke', superseded])).envelope.result.revoked).toEqual([
      expect.objectContaining({noop: true, reason: 'superseded'}),
    ])

    const byPurpose = await runJson<{revoked: Array<{purpose: string; noop: boolean}>}>([
      'consent',
      'revoke',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'HOPERAT',
    ])
    expect(byPurpose.envelope.result.revoked).toEqual([expect.objectContaining({purpose: 'HOPERAT', noop: false})])
    expect(
      (await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'labs'])).exitCode,
    ).toBe(0)
    const none = await runJson(['consent', 'revoke', '--patient', P, '--grantee', `0x${'55'.repeat(20)}`])
    expect(none.envelope.error).toMatchObject({code: 'E_UNKNOWN_CONSENT', exitCode: 2})
  })

  it('a block past the head is E_BLOCK_NOT_FOUND; an unreachable chain is E_RPC_UNAVAILABLE within the timeout', async () => {
    const r = await runJson(['consent', 'check', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--at-block', '999999'])
    expect(r.envelope.error).toMatchObject({code: 'E_BLOCK_NOT_FOUND', exitCode: 2})
    expect((await runJson(['profile', 'create', 'remote', '--custodian'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'set', 'chain.rpcUrl', 'http://127.0.0.1:1', '--profile', 'remote'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'set', 'chain.registry', `0x${'66'.repeat(20)}`, '--profile', 'remote'])).exitCode).toBe(0)
    const started = Date.now()
    const down = await runJson(['consent', 'list', '--profile', 'remote', '--rpc-timeout', '2000'])
    expect(down.envelope.error).toMatchObject({code: 'E_RPC_UNAVAILABLE', exitCode: 1})
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('usage errors: unknown purpose, duration beyond the cap, bad date', async () => {
    expect(
      (await runJson(['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'FUN', '--classes', 'labs', '--until', '1d']))
        .envelope.error,
    ).toMatchObject({code: 'E_BAD_PURPOSE', exitCode: 2})
    const long = await runJson([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'ETREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
    ])
    expect(long.envelope.error).toMatchObject({code: 'E_DURATION_TOO_LONG', exitCode: 2})
    expect(long.envelope.error.message).toBe('A ETREAT consent may last at most 1 day; this one would last 30 days.')
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          P,
          '--grantee',
          'clinic',
          '--purpose',
          'TREAT',
          '--classes',
          'labs',
          '--until',
          'someday',
        ])
      ).envelope.error,
    ).toMatchObject({code: 'E_BAD_DATE', exitCode: 2})
  })

  it('break-glass opens audited emergency access; review records it', async () => {
    const opened = await runJson<{accessId: string}>([
      'consent',
      'break-glass',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--reason',
      'unconscious-on-arrival',
      '--hours',
      '2',
    ])
    expect(opened.exitCode).toBe(0)
    expect(opened.envelope.warnings.join(' ')).toContain('flagged for review')
    const check = await runJson<{decision: string; reason: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'ETREAT',
    ])
    expect(check.envelope.result).toMatchObject({decision: 'Permit', reason: 'BreakGlass'})
    type Shown = {
      entries: Array<{type: string; index: number; subject?: string; breakGlass?: {accessId: string; review: string; reviewIndex?: number}}>
    }
    const accessId = String(opened.envelope.result.accessId)
    const before = await runJson<Shown>(['audit', 'show', '--action', 'break-glass'])
    expect(before.envelope.result.entries.at(-1)?.breakGlass).toEqual({accessId, review: 'pending'})
    const reviewed = await runJson<{approved: boolean}>(['consent', 'review', opened.envelope.result.accessId, '--approve'])
    expect(reviewed.envelope.result.approved).toBe(true)
    const audit = await runJson<Shown>(['audit', 'show', '--action', 'break-glass,review'])
    expect(audit.envelope.result.entries.map((e) => e.type)).toEqual(['break-glass', 'review'])
    // The review is found even when the filter leaves it out, and the row names it.
    const glass = await runJson<Shown>(['audit', 'show', '--action', 'break-glass'])
    const row = glass.envelope.result.entries.at(-1)
    expect(row?.breakGlass).toMatchObject({accessId, review: 'approved', reviewIndex: audit.envelope.result.entries[1]?.index})

    // An auditor with an evidence copy (a CAR file) and no profile, no passphrase: by pseudonym.
    const car = join(t.home, 'evidence.car')
    expect((await runJson(['audit', 'publish', '--out', car])).exitCode).toBe(0)
    const subject = row?.subject as string
    const auditor = useTempHome({MEDCTL_PASSPHRASE: undefined})
    delete process.env.MEDCTL_PASSPHRASE
    try {
      const copy = await runJson<Shown>(['audit', 'show', '--log', car, '--subject', subject, '--action', 'break-glass'])
      expect(copy.exitCode).toBe(0)
      expect(copy.envelope.result.entries).toHaveLength(glass.envelope.result.entries.filter((e) => e.subject === subject).length)
      expect(copy.envelope.result.entries.at(-1)?.breakGlass?.review).toBe('approved')
      const bad = await runJson(['audit', 'show', '--log', car, '--subject', 'alice'])
      expect(bad.envelope.error).toMatchObject({code: 'E_BAD_SUBJECT', exitCode: 2})
      const needsKey = await runJson(['audit', 'show', '--log', car, '--patient', P])
      expect(needsKey.envelope.error.code).toBe('E_NO_PROFILE')
    } finally {
      await auditor.cleanup()
      Object.assign(process.env, t.env)
    }
  })

  it('revoke --all makes every decision for the patient Deny Revoked', async () => {
    expect((await runJson(['consent', 'revoke', '--patient', P, '--all'])).exitCode).toBe(0)
    const r = await runJson<{decision: string; reason: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
    ])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.result).toMatchObject({decision: 'Deny', reason: 'Revoked'})
  })
})
