import {existsSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {createHash} from 'node:crypto'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {validateFhir, type FhirResource} from '../../src/lib/fhir/index.js'
import {repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'
import {r4Problems} from '../deid/r4.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const CAROLEE = join(samples, 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json')
const LUISA = join(samples, 'Luisa710_Carranza218_2feb4fc9-0b59-4d72-bc87-aafcf11083d9.json')
const P = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'
const OTHER = 'http://hospital.smarthealthit.org|2feb4fc9-0b59-4d72-bc87-aafcf11083d9'

type R = FhirResource & Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
interface Bundle {
  resourceType: string
  type: string
  entry: Array<{fullUrl?: string; resource: R}>
}
interface ExportResult {
  subject: string
  out: string
  files: {record: string; consents: string; auditEvents: string; manifest: string}
  resources: number
  consents: {total: number; active: number; inactive: number; byChainStatus: Record<string, number>}
  auditEvents: number
  chain: {chainId: number; registry: string; block: number}
}

const read = (path: string): Bundle => JSON.parse(readFileSync(path, 'utf8')) as Bundle

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({jsonrpc: '2.0', id: 1, method, params}),
  })
  return ((await res.json()) as {result: unknown}).result
}

describe('records export-patient (GDPR Art. 15/20) through the CLI, against the embedded chain and store', () => {
  let t: TestHome
  let work: string
  let result: ExportResult
  let clinic: string
  let payer: string
  beforeAll(async () => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-export-patient-'))
    await initHome(t)
    expect((await runJson(['records', 'import', CAROLEE, LUISA, '--no-anchor'])).exitCode).toBe(0)
    clinic = (await runJson<{address: string}>(['profile', 'create', 'clinic'])).envelope.result.address
    payer = (await runJson<{address: string}>(['profile', 'create', 'payer'])).envelope.result.address
    // an active consent, a revoked one, one that will have expired; and one of another patient
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
          'labs,conditions',
          '--until',
          '90d',
        ])
      ).exitCode,
    ).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          P,
          '--grantee',
          'payer',
          '--purpose',
          'HPAYMT',
          '--classes',
          'claims',
          '--until',
          '30d',
        ])
      ).exitCode,
    ).toBe(0)
    expect((await runJson(['consent', 'revoke', '--patient', P, '--grantee', 'payer', '--purpose', 'HPAYMT'])).exitCode).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          P,
          '--grantee',
          'payer',
          '--purpose',
          'ETREAT',
          '--classes',
          'allergies',
          '--until',
          '1h',
        ])
      ).exitCode,
    ).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          OTHER,
          '--grantee',
          'clinic',
          '--purpose',
          'TREAT',
          '--classes',
          'labs',
          '--until',
          '90d',
        ])
      ).exitCode,
    ).toBe(0)
    // who saw what: a key release to the clinic, and a denied one to the payer
    expect(
      (await runJson(['records', 'share', '--patient', P, '--to', 'clinic', '--purpose', 'TREAT', '--out', join(work, 'pkg.car')]))
        .exitCode,
    ).toBe(0)
    expect(
      (await runJson(['records', 'share', '--patient', P, '--to', 'payer', '--purpose', 'HPAYMT', '--out', join(work, 'denied.car')]))
        .exitCode,
    ).toBe(5)
    expect(
      (await runJson(['records', 'share', '--patient', OTHER, '--to', 'clinic', '--purpose', 'TREAT', '--out', join(work, 'other.car')]))
        .exitCode,
    ).toBe(0)
    const info = await runJson<{rpcUrl: string}>(['node', 'status'])
    await rpc(info.envelope.result.rpcUrl, 'evm_increaseTime', [7200])
    await rpc(info.envelope.result.rpcUrl, 'evm_mine', [])
    const r = await runJson<ExportResult>(['records', 'export-patient', '--patient', P, '--out', join(work, 'carolee')])
    expect(r.exitCode).toBe(0)
    result = r.envelope.result
  }, 300_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(work, {recursive: true, force: true})
  })

  it('record.json is the whole record as a FHIR collection Bundle, the same resources `records show` decrypts, valid R4', async () => {
    const shown = join(work, 'shown.json')
    expect((await runJson(['records', 'show', '--patient', P, '--out', shown])).exitCode).toBe(0)
    const record = read(result.files.record)
    expect(record).toMatchObject({resourceType: 'Bundle', type: 'collection'})
    const keys = (b: Bundle) => b.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort()
    expect(keys(record)).toEqual(keys(read(shown)))
    expect(record.entry.length).toBe(result.resources)
    expect(r4Problems(record)).toEqual([])
    expect(
      record.entry.some((e) => e.resource.resourceType === 'Patient' && e.resource.id === 'd88f994a-5efa-421d-9c40-5f116d2114a6'),
    ).toBe(true)
    expect(JSON.stringify(record)).not.toContain('2feb4fc9-0b59-4d72-bc87-aafcf11083d9')
    expect(statSync(result.files.record).mode & 0o777).toBe(0o600)
  })

  it("consents.json holds the patient's consents as R4 Consent, status from the chain: active, inactive when revoked or expired", () => {
    const bundle = read(result.files.consents)
    expect(r4Problems(bundle)).toEqual([])
    expect(validateFhir(bundle as unknown as FhirResource)).toBeUndefined()
    const consents = bundle.entry.map((e) => e.resource)
    expect(consents).toHaveLength(3)
    const byPurpose = Object.fromEntries(consents.map((c) => [c.provision.purpose[0].code, c]))
    const chainStatus = (c: R) => c.meta.tag.find((t: {system: string}) => t.system.endsWith('consent-status')).code
    expect([byPurpose.TREAT.status, chainStatus(byPurpose.TREAT)]).toEqual(['active', 'active'])
    expect([byPurpose.HPAYMT.status, chainStatus(byPurpose.HPAYMT)]).toEqual(['inactive', 'revoked'])
    expect([byPurpose.ETREAT.status, chainStatus(byPurpose.ETREAT)]).toEqual(['inactive', 'expired'])
    expect(result.consents).toMatchObject({total: 3, active: 1, inactive: 2, byChainStatus: {active: 1, revoked: 1, expired: 1}})
    const treat = byPurpose.TREAT
    expect(treat.scope.coding[0].code).toBe('patient-privacy')
    expect(treat.provision.period.end).toMatch(/^\d{4}-/)
    expect(treat.provision.actor[0].reference.identifier.value.toLowerCase()).toBe(`urn:ethereum:${clinic.toLowerCase()}`)
    expect(treat.provision.class.map((c: {code: string}) => c.code).sort()).toEqual(['conditions', 'labs'])
    expect(byPurpose.HPAYMT.provision.actor[0].reference.identifier.value.toLowerCase()).toBe(`urn:ethereum:${payer.toLowerCase()}`)
    // the stored terms name the patient (this is their own copy), by their identifier
    expect(treat.patient.identifier.value).toBe('d88f994a-5efa-421d-9c40-5f116d2114a6')
  })

  it('audit-events.json: every audit entry about the patient (and none about another) as R4 AuditEvent — who saw what, when, why', async () => {
    const bundle = read(result.files.auditEvents)
    expect(r4Problems(bundle)).toEqual([])
    expect(validateFhir(bundle as unknown as FhirResource)).toBeUndefined()
    const events = bundle.entry.map((e) => e.resource)
    expect(events.length).toBe(result.auditEvents)
    const log = await runJson<{entries: Array<{index: number; type: string; detail?: {what?: string; phase?: string}}>}>([
      'audit',
      'show',
      '--patient',
      P,
    ])
    // the log's entries about the patient up to the export's intent (the last one exported), each once
    const entries = log.envelope.result.entries
    const intent = entries.find((e) => e.detail?.what === 'patient-record' && e.detail.phase === 'intent') as {index: number}
    expect(events.map((e) => e.id)).toEqual(entries.filter((e) => e.index <= intent.index).map((e) => `medctl-${e.index}`))
    for (const e of events) {
      const patients = e.entity.filter((x: R) => x.what?.type === 'Patient')
      expect(patients.map((x: R) => x.what.identifier.value)).toEqual([result.subject])
    }
    const types = events.map((e) => e.subtype.find((s: {system: string}) => s.system.endsWith('audit-event')).code)
    expect(types).toEqual(expect.arrayContaining(['grant', 'revoke', 'key-release', 'consent-decision', 'export']))
    // the refused release to the payer is there too, as a denied decision (outcome 4)
    const refused = events.find((e) => e.subtype.some((s: {code: string}) => s.code === 'consent-decision')) as R
    expect([refused.outcome, refused.agent.some((a: R) => a.who.identifier?.value?.toLowerCase() === payer.toLowerCase())]).toEqual([
      '4',
      true,
    ])
    // who saw what, when and why: the key release to the clinic names the clinic, the classes, the package, the purpose
    const release = events.find((e) => e.subtype.some((s: {code: string}) => s.code === 'key-release')) as R
    expect(release.meta.profile[0]).toMatch(/PrivacyDisclosure\.Source$/)
    expect(release.agent.some((a: R) => a.who.identifier?.value?.toLowerCase() === clinic.toLowerCase())).toBe(true)
    expect(release.purposeOfEvent[0].coding[0].code).toBe('TREAT')
    expect(release.recorded).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(JSON.stringify(release.entity)).toContain('labs')
    // the export is itself among them (its intent, purpose PATRQT)
    expect(types.at(-1)).toBe('export')
    expect(events.at(-1)?.purposeOfEvent[0].coding[0].code).toBe('PATRQT')
  })

  it("manifest.json pins the chain and each file's SHA-256; the export is audited (intent and outcome)", async () => {
    const manifest = JSON.parse(readFileSync(result.files.manifest, 'utf8')) as {
      chain: {registry: string}
      files: Record<string, {sha256: string}>
    }
    for (const [name, {sha256}] of Object.entries(manifest.files))
      expect(
        createHash('sha256')
          .update(readFileSync(join(result.out, name)))
          .digest('hex'),
      ).toBe(sha256)
    expect(Object.keys(manifest.files).sort()).toEqual(['audit-events.json', 'consents.json', 'record.json'])
    expect(manifest.chain.registry).toBe(result.chain.registry)
    const audit = await runJson<{entries: Array<{type: string; purpose?: string; detail?: {what?: string; phase?: string}}>}>([
      'audit',
      'show',
      '--patient',
      P,
    ])
    const exports = audit.envelope.result.entries.filter((e) => e.type === 'export' && e.detail?.what === 'patient-record')
    expect(exports.map((e) => [e.detail?.phase, e.purpose])).toEqual([
      ['intent', 'PATRQT'],
      ['written', 'PATRQT'],
    ])
  })

  it('a human table through bin/run.js; a file as --out is a usage error; an erased patient is E_ERASED and nothing is written', async () => {
    const human = runBin(['records', 'export-patient', '--patient', P, '--out', join(work, 'again')], {env: t.env})
    expect(human.status).toBe(0)
    expect(human.stdout).toMatch(/audit events/)
    const bad = await runJson(['records', 'export-patient', '--patient', P, '--out', result.files.record])
    expect([bad.exitCode, bad.envelope.error.code]).toEqual([2, 'E_BAD_OUT'])
    expect((await runJson(['records', 'erase', '--patient', OTHER, '--yes'])).exitCode).toBe(0)
    const erased = await runJson(['records', 'export-patient', '--patient', OTHER, '--out', join(work, 'luisa')])
    expect([erased.exitCode, erased.envelope.error.code]).toEqual([2, 'E_ERASED'])
    expect(existsSync(join(work, 'luisa'))).toBe(false)
  })
})
