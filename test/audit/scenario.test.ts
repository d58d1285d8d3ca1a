import {appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Wallet} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {MEDCTL_EVENT, buildEntry, lineHash, serializeEntry, signHead, treeHead} from '../../src/lib/audit/index.js'
import {r4Problems} from '../deid/r4.js'
import {parseEnvelope, repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

interface Verified {
  ok: boolean
  code?: string
  entries: number
  anchors: number
  firstBadIndex?: number
  lastBadIndex?: number
  problem?: string
}

describe('audit log: a real scenario is fully logged, verifies, proves; every tampering is named', () => {
  let t: TestHome
  let logDir: string
  let lines: string[]
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect((await runJson(['records', 'import', samples])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          PATIENT,
          '--grantee',
          'clinic',
          '--purpose',
          'TREAT',
          '--classes',
          'labs',
          '--until',
          '30d',
        ])
      ).exitCode,
    ).toBe(0)
    const shared = await runJson<{packageCid: string}>(['records', 'share', '--patient', PATIENT, '--to', 'clinic', '--purpose', 'TREAT'])
    expect(shared.exitCode).toBe(0)
    expect(
      (await runJson(['records', 'fetch', shared.envelope.result.packageCid, '--out', join(t.home, 'f.json'), '--profile', 'clinic']))
        .exitCode,
    ).toBe(0)
    expect((await runJson(['records', 'share', '--patient', PATIENT, '--to', 'clinic', '--purpose', 'HRESCH'])).exitCode).toBe(5)
    expect((await runJson(['consent', 'check', '--patient', PATIENT, '--grantee', 'clinic', '--purpose', 'HPAYMT'])).exitCode).toBe(5)
    expect((await runJson(['audit', 'anchor'])).exitCode).toBe(0)
    logDir = join(t.home, 'data', 'audit')
    lines = readFileSync(join(logDir, 'log-000001.ndjson'), 'utf8').split('\n').filter(Boolean)
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('every action is in the log: import, grant, key release, fetch, and the denied share and check', async () => {
    const {envelope} = await runJson<{entries: Array<{type: string; outcome: string; reason?: string}>}>(['audit', 'show'])
    const seen = envelope.result.entries.map((e) => `${e.type}:${e.outcome}`)
    expect(seen).toEqual(
      expect.arrayContaining(['import:success', 'grant:success', 'key-release:success', 'fetch:success', 'consent-decision:denied']),
    )
    expect(envelope.result.entries.filter((e) => e.outcome === 'denied').length).toBeGreaterThanOrEqual(2)
    const denied = await runJson<{entries: unknown[]}>(['audit', 'show', '--outcome', 'denied', '--patient', PATIENT])
    expect(denied.envelope.result.entries.length).toBeGreaterThanOrEqual(2)
  })

  it('the log holds no identifier of the patient', () => {
    const text = lines.join('\n')
    expect(text).not.toContain('d88f994a-5efa-421d-9c40-5f116d2114a6')
    expect(text).not.toContain('Carolee')
  })

  it('audit verify: intact, exit 0, anchors checked against the chain', async () => {
    const {envelope, exitCode} = await runJson<Verified>(['audit', 'verify'])
    expect(exitCode).toBe(0)
    expect(envelope.result).toMatchObject({ok: true, entries: lines.length})
    expect(envelope.result.anchors).toBeGreaterThanOrEqual(2)
  })

  it('a proof checks offline and against the chain; a tampered proof does not', async () => {
    const out = join(t.home, 'proof.json')
    expect((await runJson(['audit', 'prove', '3', '--out', out])).exitCode).toBe(0)
    expect((await runJson<{ok: boolean}>(['audit', 'check-proof', out, '--offline'])).envelope.result.ok).toBe(true)
    const online = await runJson<{ok: boolean; onChain: boolean}>(['audit', 'check-proof', out])
    expect(online.envelope.result).toMatchObject({ok: true, onChain: true})
    const proof = JSON.parse(readFileSync(out, 'utf8')) as {entry: string}
    proof.entry = proof.entry.replace('"success"', '"failure"')
    writeFileSync(out, JSON.stringify(proof))
    const bad = await runJson<{ok: boolean}>(['audit', 'check-proof', out, '--offline'])
    expect(bad.exitCode).toBe(4)
  })

  const tampered = (mutate: (lines: string[]) => string[], extra?: (dir: string) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), 'medctl-tamper-'))
    cpSync(logDir, dir, {recursive: true})
    writeFileSync(join(dir, 'log-000001.ndjson'), `${mutate([...lines]).join('\n')}\n`)
    extra?.(dir)
    return dir
  }
  const verifyDir = async (dir: string) => runJson<Verified>(['audit', 'verify', '--log', dir])

  it('an edited entry is named (exit 4)', async () => {
    const r = await verifyDir(tampered((l) => l.map((line, i) => (i === 2 ? line.replace('"success"', '"denied"') : line))))
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({ok: false, firstBadIndex: 2})
  })

  it('a deleted entry is named', async () => {
    const r = await verifyDir(tampered((l) => l.filter((_, i) => i !== 2)))
    expect(r.envelope.result).toMatchObject({ok: false, firstBadIndex: 2})
  })

  it('a reordered pair is named', async () => {
    const r = await verifyDir(tampered((l) => [l[0], l[1], l[3], l[2], ...l.slice(4)] as string[]))
    expect(r.envelope.result).toMatchObject({ok: false, firstBadIndex: 2})
  })

  it('an inserted entry, even with a correct seq and prev, is named', async () => {
    const forged = serializeEntry(
      buildEntry(
        {type: 'fetch', action: 'R', outcome: 'success', actor: {address: Wallet.createRandom().address}},
        2,
        lineHash(Buffer.from(lines[1] as string)),
      ),
    ).toString()
    const r = await verifyDir(tampered((l) => [l[0], l[1], forged, ...l.slice(2)] as string[]))
    expect(r.envelope.result).toMatchObject({ok: false, firstBadIndex: 2})
  })

  // Inside an anchored segment the exact entry of a cut or a rewrite cannot be known (the anchor
  // signs one root); verify names the first entry no intact anchor vouches for and the range.
  const previousAnchor = (): number => {
    const sizes = readFileSync(join(logDir, 'heads.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((h) => (JSON.parse(h) as {size: number}).size)
    return sizes.filter((s) => s < lines.length).at(-1) ?? 0
  }

  it('a truncated log is caught by the newest anchor, reported from the first entry no intact anchor covers', async () => {
    const r = await verifyDir(tampered((l) => l.slice(0, -1)))
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({
      ok: false,
      code: 'E_AUDIT_TRUNCATED',
      firstBadIndex: previousAnchor(),
      lastBadIndex: lines.length - 1,
    })
  })

  it('a rewritten tail (last entry edited, nothing after it to chain) is caught by the anchored head', async () => {
    const r = await verifyDir(
      tampered((l) =>
        l.map((line, i) => (i === l.length - 1 ? line.replace('"success"', '"failure"').replace('"denied"', '"success"') : line)),
      ),
    )
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({
      ok: false,
      code: 'E_AUDIT_ALTERED',
      firstBadIndex: previousAnchor(),
      lastBadIndex: lines.length - 1,
    })
  })

  it('a forged tree head (not signed by the custodian) fails', async () => {
    const dir = tampered(
      (l) => l,
      (d) => {
        const heads = readFileSync(join(d, 'heads.ndjson'), 'utf8').split('\n').filter(Boolean)
        const last = JSON.parse(heads.at(-1) as string) as {root: string}
        last.root = `0x${'00'.repeat(32)}`
        writeFileSync(join(d, 'heads.ndjson'), `${[...heads.slice(0, -1), JSON.stringify(last)].join('\n')}\n`)
      },
    )
    const r = await verifyDir(dir)
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.problem).toMatch(/forged/)
  })

  it('a head signed by the custodian but never anchored is a missing anchor', async () => {
    const exported = parseEnvelope<{privateKey: string}>(runBin(['keys', 'export', '--yes', '--json'], {env: t.env}).stdout).result
    const dir = tampered((l) => l)
    const head = treeHead(dir)
    const registry = (JSON.parse(readFileSync(join(dir, 'heads.ndjson'), 'utf8').split('\n')[0] as string) as {registry: string}).registry
    const signed = await signHead(new Wallet(exported.privateKey), {...head, time: new Date().toISOString(), chainId: 31337, registry})
    const extra = serializeEntry(
      buildEntry({type: 'anchor', action: 'E', outcome: 'success', actor: {address: signed.signer}}, lines.length, head.lastHash),
    ).toString()
    appendFileSync(join(dir, 'log-000001.ndjson'), `${extra}\n`)
    const bigger = treeHead(dir)
    const unanchored = await signHead(new Wallet(exported.privateKey), {
      ...bigger,
      time: new Date().toISOString(),
      chainId: 31337,
      registry,
    })
    appendFileSync(join(dir, 'heads.ndjson'), `${JSON.stringify(unanchored)}\n`)
    const r = await verifyDir(dir)
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.problem).toMatch(/no matching anchor/)
  })

  it('a torn last line is reported, never dropped, and repair moves it aside', async () => {
    const dir = tampered((l) => l)
    appendFileSync(join(dir, 'log-000001.ndjson'), '{"v":1,"seq":')
    const r = await verifyDir(dir)
    expect(r.envelope.result).toMatchObject({ok: false, firstBadIndex: lines.length})
    expect(r.envelope.result.problem).toMatch(/torn/)
  })

  it('publish puts the log in the content store; verify --log CID checks it', async () => {
    const published = await runJson<{cid: string; entries: number}>(['audit', 'publish'])
    expect(published.envelope.result.entries).toBe(lines.length)
    const r = await runJson<Verified>(['audit', 'verify', '--log', published.envelope.result.cid])
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result.ok).toBe(true)
  })

  it('export writes FHIR AuditEvent NDJSON', async () => {
    const out = join(t.home, 'audit.ndjson')
    const r = await runJson<{written: number}>(['audit', 'export', '--format', 'fhir', '--out', out])
    expect(r.envelope.result.written).toBe(lines.length)
    const events = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            resourceType: string
            meta?: {profile: string[]}
            subtype: Array<{system: string; code: string}>
            outcome: string
          },
      )
    for (const e of events) expect(r4Problems(e)).toEqual([])
    const profiles = new Set(
      events.map(
        (e) => `${e.subtype.find((s) => s.system === MEDCTL_EVENT)?.code}:${e.outcome}:${e.meta?.profile[0]?.split('/').at(-1) ?? '-'}`,
      ),
    )
    for (const p of [
      'grant:0:IHE.BasicAudit.PatientCreate',
      'key-release:0:IHE.BasicAudit.PrivacyDisclosure.Source',
      'fetch:0:IHE.BasicAudit.PrivacyDisclosure.Recipient',
      'consent-decision:4:IHE.BasicAudit.AuthZconsent',
    ])
      expect(profiles).toContain(p)
  })
})
