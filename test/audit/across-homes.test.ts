/**
 * Audit across homes (issue 12, 3): the hospital publishes its log as a CARv1 file; an auditor who
 * joined the network in a home of their own verifies it against the anchors of their own registry
 * and gets the hospital's root. A flipped byte in the CAR, and a log re-packed after an entry was
 * removed, are refused with exit 4. By CID, the log is read through the verifier's own store.
 */
import {cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {appendAuditBatch, publishLogCar, type AuditInput} from '../../src/lib/audit/index.js'
import {runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

interface Verified {
  ok: boolean
  code?: string
  entries: number
  anchoredEntries: number
  unanchored: number
  root: string
  firstBadIndex?: number
  log: {kind: string; cid?: string}
  checkedAgainst: {mode: string; registry: string | null; custodian: string[] | null}
}

describe("audit across homes: publish --out log.car, verify --log log.car in the auditor's own home", () => {
  let hospital: TestHome
  let auditorHome: string
  let work: string
  let registry: string
  let custodian: string
  let hospitalRoot: string
  let car: string
  let cid: string

  /** Runs a command in the auditor's home (in-process: the home comes from MEDCTL_HOME). */
  async function asAuditor<R>(args: string[]): Promise<Awaited<ReturnType<typeof runJson<R>>>> {
    const saved = process.env.MEDCTL_HOME
    process.env.MEDCTL_HOME = auditorHome
    try {
      return await runJson<R>(args)
    } finally {
      process.env.MEDCTL_HOME = saved
    }
  }

  beforeAll(async () => {
    hospital = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-audit-homes-'))
    auditorHome = mkdtempSync(join(tmpdir(), 'medctl-auditor-'))
    await initHome(hospital)
    const shown = await runJson<{address: string; chain: {registry: string}}>(['profile', 'show'])
    registry = shown.envelope.result.chain.registry
    custodian = shown.envelope.result.address
    const entry = (i: number): AuditInput => ({
      type: 'consent-decision',
      action: 'E',
      outcome: i % 2 ? 'denied' : 'success',
      actor: {address: custodian, profile: 'local'},
      subject: `0x${i.toString(16).padStart(64, '0')}`,
      purpose: 'TREAT',
    })
    await appendAuditBatch({auditDir: join(hospital.home, 'data', 'audit')}, [0, 1, 2, 3, 4].map(entry))
    expect((await runJson(['audit', 'anchor'])).exitCode).toBe(0)
    await appendAuditBatch({auditDir: join(hospital.home, 'data', 'audit')}, [5, 6].map(entry))
    const own = await runJson<Verified>(['audit', 'verify'])
    expect(own.envelope.result.ok).toBe(true)
    hospitalRoot = own.envelope.result.root

    car = join(work, 'log.car')
    const published = await runJson<{cid: string; entries: number; heads: number; delivery: string; car: {blocks: number}}>([
      'audit',
      'publish',
      '--out',
      car,
    ])
    expect(published.exitCode).toBe(0)
    expect(published.envelope.result).toMatchObject({entries: own.envelope.result.entries, heads: 1, delivery: 'car'})
    cid = published.envelope.result.cid

    expect((await runJson(['network', 'export', '--out', join(work, 'network.json')])).exitCode).toBe(0)
    const joined = await asAuditor([
      'init',
      '--join',
      join(work, 'network.json'),
      '--name',
      'auditor',
      '--registration-out',
      join(work, 'registration-auditor.json'),
    ])
    expect(joined.exitCode, JSON.stringify(joined.envelope)).toBe(0)
  }, 300_000)

  afterAll(async () => {
    await hospital?.cleanup()
    rmSync(work, {recursive: true, force: true})
    rmSync(auditorHome, {recursive: true, force: true})
  })

  it("the auditor's verify of the CAR gives the hospital's root, checked against the auditor's own registry", async () => {
    const r = await asAuditor<Verified>(['audit', 'verify', '--log', car])
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result).toMatchObject({
      ok: true,
      root: hospitalRoot,
      entries: 7,
      anchoredEntries: 5,
      unanchored: 2,
      log: {kind: 'car', cid},
    })
    expect(r.envelope.result.checkedAgainst.mode).toBe('chain')
    expect(r.envelope.result.checkedAgainst.registry?.toLowerCase()).toBe(registry.toLowerCase())
    expect(r.envelope.result.checkedAgainst.custodian?.map((a) => a.toLowerCase())).toEqual([custodian.toLowerCase()])
    const strict = await asAuditor<Verified>(['audit', 'verify', '--log', car, '--require-anchored'])
    expect(strict.exitCode).toBe(4)
    expect(strict.envelope.result.code).toBe('E_AUDIT_UNANCHORED')
  })

  it('a flipped byte in the CAR is refused before anything is used (E_CAR_CORRUPT, exit 4)', async () => {
    const bytes = readFileSync(car)
    const flipped = Buffer.from(bytes)
    const at = bytes.indexOf(Buffer.from('"consent-decision"'))
    expect(at).toBeGreaterThan(0)
    flipped[at + 2] = (flipped[at + 2] as number) ^ 0x01
    const bad = join(work, 'flipped.car')
    writeFileSync(bad, flipped)
    const r = await asAuditor(['audit', 'verify', '--log', bad])
    expect(r.exitCode).toBe(4)
    expect(r.envelope).toMatchObject({status: 'error', error: {code: 'E_CAR_CORRUPT'}})
  })

  it('a log re-packed after an entry was removed (valid CIDs) fails against the anchors (exit 4)', async () => {
    const forged = join(work, 'forged-log')
    cpSync(join(hospital.home, 'data', 'audit'), forged, {recursive: true})
    const file = join(forged, 'log-000001.ndjson')
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
    writeFileSync(file, `${lines.filter((_, i) => i !== 2).join('\n')}\n`)
    rmSync(join(forged, 'state.json'), {force: true})
    const out = join(work, 'forged.car')
    await publishLogCar(forged, out)
    const r = await asAuditor<Verified>(['audit', 'verify', '--log', out])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.ok).toBe(false)
    expect(r.envelope.result.firstBadIndex).toBe(2)
  })

  it('a file that is not a CAR, and a name that is neither file nor CID, are usage errors or refused', async () => {
    const notCar = join(work, 'not.car')
    writeFileSync(notCar, 'hello')
    expect((await asAuditor(['audit', 'verify', '--log', notCar])).envelope).toMatchObject({error: {code: 'E_CAR_CORRUPT'}})
    const none = await asAuditor(['audit', 'verify', '--log', join(work, 'missing.car')])
    expect(none.exitCode).toBe(2)
    expect(none.envelope).toMatchObject({error: {code: 'E_NO_LOG'}})
  })

  it("by CID: through the verifier's own store (the hospital's has it; the auditor's embedded store does not)", async () => {
    const published = await runJson<{cid: string; delivery: string}>(['audit', 'publish'])
    expect(published.envelope.result).toMatchObject({cid, delivery: 'embedded'})
    const here = await runJson<Verified>(['audit', 'verify', '--log', cid])
    expect(here.exitCode).toBe(0)
    expect(here.envelope.result).toMatchObject({ok: true, root: hospitalRoot, log: {kind: 'cid', cid}})
    const there = await asAuditor(['audit', 'verify', '--log', cid])
    expect(there.exitCode).toBe(2)
    expect(there.envelope).toMatchObject({error: {code: 'E_CID_NOT_FOUND'}})
  })
})
