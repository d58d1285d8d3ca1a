/**
 * The anchoring policy: the custodian's log anchors itself after every N unanchored entries or T
 * minutes (profile settings audit.anchorEvery / audit.anchorMinutes, overridden by the environment).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AuditLog, appendHead, treeHead, type AuditInput} from '../../src/lib/audit/index.js'
import {DEFAULT_ANCHOR_EVERY, anchorDue, anchorPolicy} from '../../src/lib/audit/record.js'
import {repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const ACTOR = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266'
const input: AuditInput = {type: 'grant', action: 'C', outcome: 'success', actor: {address: ACTOR}}

describe('anchoring policy: which setting wins', () => {
  it('environment, then profile, then the default (100 entries, no time rule)', () => {
    expect(anchorPolicy(undefined, {})).toMatchObject({
      every: DEFAULT_ANCHOR_EVERY,
      minutes: 0,
      from: {every: 'default', minutes: 'default'},
    })
    expect(anchorPolicy({audit: {anchorEvery: 7, anchorMinutes: 10}}, {})).toMatchObject({
      every: 7,
      minutes: 10,
      from: {every: 'profile', minutes: 'profile'},
    })
    expect(
      anchorPolicy({audit: {anchorEvery: 7, anchorMinutes: 10}}, {MEDCTL_AUDIT_ANCHOR_EVERY: '3', MEDCTL_AUDIT_ANCHOR_MINUTES: '0'}),
    ).toMatchObject({every: 3, minutes: 0, from: {every: 'env', minutes: 'env'}})
  })

  it('a malformed value is ignored, not half-read', () => {
    expect(anchorPolicy({audit: {anchorEvery: 7}}, {MEDCTL_AUDIT_ANCHOR_EVERY: '0'}).every).toBe(7)
    expect(anchorPolicy({audit: {anchorEvery: 7}}, {MEDCTL_AUDIT_ANCHOR_EVERY: '12abc'}).every).toBe(7)
    expect(anchorPolicy({audit: {anchorEvery: -1, anchorMinutes: 1.5}}, {}).every).toBe(DEFAULT_ANCHOR_EVERY)
    expect(anchorPolicy({audit: {anchorMinutes: 1.5}}, {}).minutes).toBe(0)
  })
})

describe('anchoring policy: when an anchor is due', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'medctl-anchor-policy-'))
  })
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('by entries, by minutes since the first entry, then by minutes since the last anchor', () => {
    const log = new AuditLog(dir)
    expect(anchorDue(dir, {every: 1, minutes: 1})).toEqual({due: false, unanchored: 0})
    log.append([input, input, input])
    const first = Date.now()
    expect(anchorDue(dir, {every: 3, minutes: 0})).toMatchObject({due: true, because: 'entries', unanchored: 3})
    expect(anchorDue(dir, {every: 4, minutes: 0})).toMatchObject({due: false, unanchored: 3})
    // Time rule: counted from the first entry while nothing is anchored.
    expect(anchorDue(dir, {every: 4, minutes: 10}, first + 9 * 60_000).due).toBe(false)
    expect(anchorDue(dir, {every: 4, minutes: 10}, first + 11 * 60_000)).toMatchObject({due: true, because: 'minutes'})

    // An anchored head covering all three: nothing is due, whatever the time.
    const anchoredAt = new Date(first + 20 * 60_000).toISOString()
    const head = treeHead(dir)
    appendHead(dir, {
      ...head,
      time: anchoredAt,
      chainId: 31337,
      registry: ACTOR,
      signer: ACTOR,
      signature: '0x00',
      anchor: {index: 0, txHash: `0x${'0'.repeat(64)}`, blockNumber: 1},
    })
    expect(anchorDue(dir, {every: 1, minutes: 1}, first + 60 * 60_000)).toEqual({due: false, unanchored: 0})

    // One more entry: counted from the anchor's time now, not the first entry's.
    log.append([input])
    expect(anchorDue(dir, {every: 2, minutes: 10}, first + 25 * 60_000)).toMatchObject({due: false, unanchored: 1, since: anchoredAt})
    expect(anchorDue(dir, {every: 2, minutes: 10}, first + 31 * 60_000)).toMatchObject({due: true, because: 'minutes', unanchored: 1})
    expect(anchorDue(dir, {every: 1, minutes: 0})).toMatchObject({due: true, because: 'entries'})
  })

  it('a signed head that was never anchored does not count as an anchor', () => {
    const other = mkdtempSync(join(tmpdir(), 'medctl-anchor-policy-'))
    try {
      new AuditLog(other).append([input, input])
      appendHead(other, {
        ...treeHead(other),
        time: new Date().toISOString(),
        chainId: 31337,
        registry: ACTOR,
        signer: ACTOR,
        signature: '0x00',
      })
      expect(anchorDue(other, {every: 2, minutes: 0})).toMatchObject({due: true, unanchored: 2})
    } finally {
      rmSync(other, {recursive: true, force: true})
    }
  })
})

interface Verified {
  ok: boolean
  entries: number
  anchoredEntries: number
  unanchored: number
  anchors: number
}

describe('anchoring policy per profile (CLI, embedded chain)', () => {
  let t: TestHome
  const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'
  const grant = async (purpose: string): Promise<void> => {
    const r = await runJson([
      'consent',
      'grant',
      '--patient',
      PATIENT,
      '--grantee',
      'clinic',
      '--purpose',
      purpose,
      '--classes',
      'labs',
      '--until',
      '30d',
    ])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
  }
  const verify = async (): Promise<Verified> => (await runJson<Verified>(['audit', 'verify'])).envelope.result

  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect((await runJson(['records', 'import', join(repoRoot, 'data', 'samples', 'synthea-r4')])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'use', 'local'])).exitCode).toBe(0)
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('profile set validates the two settings (E_BAD_SETTING, exit 2)', async () => {
    for (const [key, value] of [
      ['audit.anchorEvery', '0'],
      ['audit.anchorEvery', '1e3'],
      ['audit.anchorMinutes', '-5'],
      ['audit.anchorMinutes', 'ten'],
    ] as const) {
      const r = await runJson(['profile', 'set', key, value])
      expect(r.exitCode).toBe(2)
      expect(r.envelope).toMatchObject({status: 'error', error: {code: 'E_BAD_SETTING'}})
    }
  })

  it('audit.anchorEvery 2: the unanchored tail never reaches 2; 1000: it grows', async () => {
    expect((await runJson(['profile', 'set', 'audit.anchorEvery', '2'])).exitCode).toBe(0)
    const before = await verify()
    for (const purpose of ['TREAT', 'HPAYMT', 'HOPERAT']) {
      await grant(purpose)
      const now = await verify()
      expect(now.ok).toBe(true)
      expect(now.unanchored).toBeLessThan(2)
    }
    expect((await verify()).anchors).toBeGreaterThan(before.anchors)

    expect((await runJson(['profile', 'set', 'audit.anchorEvery', '1000'])).exitCode).toBe(0)
    await grant('HRESCH')
    await grant('PUBHLTH')
    expect((await verify()).unanchored).toBeGreaterThanOrEqual(2)
  })

  it('audit anchor --if-due applies the policy; the environment overrides the profile', async () => {
    const skipped = await runJson<{anchored: boolean; unanchored: number}>(['audit', 'anchor', '--if-due'])
    expect(skipped.exitCode).toBe(0)
    expect(skipped.envelope.result).toMatchObject({anchored: false})
    expect(skipped.envelope.result.unanchored).toBeGreaterThanOrEqual(2)
    process.env.MEDCTL_AUDIT_ANCHOR_EVERY = '1'
    try {
      const done = await runJson<{anchored: boolean}>(['audit', 'anchor', '--if-due'])
      expect(done.envelope.result.anchored).toBe(true)
    } finally {
      delete process.env.MEDCTL_AUDIT_ANCHOR_EVERY
    }
    expect((await verify()).unanchored).toBe(0)
  })
})
