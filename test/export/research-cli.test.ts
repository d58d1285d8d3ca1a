import {readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parquetReadObjects} from 'hyparquet'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const CLASSES = 'demographics,conditions,labs,vitals,immunizations'

interface Patient {
  id: string
  mrn: string
  secrets: string[]
}

function samplePatients(): Patient[] {
  return readdirSync(samples)
    .filter((f) => f.endsWith('.json') && !/Information/.test(f))
    .sort()
    .map((file) => {
      const bundle = JSON.parse(readFileSync(join(samples, file), 'utf8')) as {entry: Array<{resource: Record<string, unknown>}>}
      const p = bundle.entry.find((e) => e.resource.resourceType === 'Patient')?.resource as Record<string, unknown>
      const secrets: string[] = []
      for (const n of (p.name as Array<{family?: string; given?: string[]}>) ?? []) secrets.push(n.family ?? '', ...(n.given ?? []))
      for (const a of (p.address as Array<{line?: string[]; city?: string; postalCode?: string}>) ?? []) secrets.push(...(a.line ?? []), a.city ?? '', a.postalCode ?? '')
      for (const t of (p.telecom as Array<{value?: string}>) ?? []) secrets.push(t.value ?? '')
      for (const i of (p.identifier as Array<{value?: string}>) ?? []) secrets.push(i.value ?? '')
      const mrn = (p.identifier as Array<{system?: string; value?: string; type?: {coding?: Array<{code?: string}>}}>).find((i) => i.type?.coding?.some((c) => c.code === 'MR'))
      return {id: p.id as string, mrn: `${mrn?.system}|${mrn?.value}`, secrets: secrets.filter((s) => s.length >= 4)}
    })
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).map((f) => join(dir, f))
}

interface Result {
  block: number
  cohort: {included: number; excluded: Record<string, number>}
  suppressed: number
  files: Array<{path: string; sha256: string; rows: number}>
  manifest: string
}

describe('export research (CLI): consented cohort, Safe Harbor, k-anonymity, reproducible files', () => {
  let t: TestHome
  let patients: Patient[]
  let keyFile: string
  let consentToRevoke: string
  beforeAll(async () => {
    t = useTempHome()
    patients = samplePatients()
    expect(patients).toHaveLength(6)
    expect((await runJson(['init'])).exitCode).toBe(0)
    expect((await runJson(['records', 'import', samples, '--no-anchor'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'lab'])).exitCode).toBe(0)
    for (const p of patients.slice(0, 4)) {
      const g = await runJson<{consents: Array<{consentId: string}>}>(['consent', 'grant', '--patient', p.mrn, '--grantee', 'lab', '--purpose', 'HRESCH', '--classes', CLASSES, '--until', '365d'])
      expect(g.exitCode).toBe(0)
      consentToRevoke = g.envelope.result.consents[0]?.consentId as string
    }
    expect((await runJson(['consent', 'grant', '--patient', patients[4]!.mrn, '--grantee', 'lab', '--purpose', 'HRESCH', '--classes', 'demographics', '--until', '365d'])).exitCode).toBe(0)
    keyFile = join(t.home, 'export.key')
    writeFileSync(keyFile, `${'5a'.repeat(32)}\n`)
  }, 300_000)
  afterAll(async () => t.cleanup())

  const exportTo = (name: string, ...extra: string[]) => runJson<Result>(['export', 'research', '--grantee', 'lab', '--classes', CLASSES, '--out', join(t.home, name), ...(extra.includes('--k') ? [] : ['--k', '1']), ...extra])

  let first: Result
  it('includes exactly the consenting patients and counts the excluded by reason', async () => {
    const r = await exportTo('ndjson', '--format', 'ndjson', '--key-file', keyFile)
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    first = r.envelope.result
    expect(first.cohort.included).toBe(4)
    expect(first.cohort.excluded).toMatchObject({noConsent: 1, classNotCovered: 1})
    const patientFile = first.files.find((f) => f.path.startsWith('Patient'))
    expect(patientFile?.rows).toBe(4)
  })

  it('no name, street, city, full ZIP, phone, SSN, MRN, licence or passport number; no full date; no on-chain subject', async () => {
    const subjects = (await runJson<{patients: Array<{subject: string}>}>(['records', 'list'])).envelope.result.patients.map((p) => p.subject)
    const dir = join(t.home, 'ndjson')
    for (const file of filesIn(dir)) {
      const text = readFileSync(file, 'utf8')
      for (const p of patients) for (const secret of p.secrets) expect(text.includes(secret), `${secret} in ${file}`).toBe(false)
      for (const s of subjects) expect(text).not.toContain(s.slice(2))
      if (!file.endsWith('manifest.json')) expect(text).not.toMatch(/\b\d{4}-\d{2}-\d{2}/)
    }
  })

  it('the same block, rules and key give byte-identical files', async () => {
    const again = await exportTo('ndjson-again', '--format', 'ndjson', '--key-file', keyFile, '--at-block', String(first.block))
    expect(again.exitCode).toBe(0)
    for (const f of first.files) expect(readFileSync(join(t.home, 'ndjson-again', f.path))).toEqual(readFileSync(join(t.home, 'ndjson', f.path)))
    expect(readFileSync(join(t.home, 'ndjson-again', 'manifest.json'))).toEqual(readFileSync(join(t.home, 'ndjson', 'manifest.json')))
  })

  it('Parquet tables read back with the same library; the manifest pins chain, block, rules and hashes', async () => {
    const r = await exportTo('parquet', '--format', 'parquet', '--key-file', keyFile)
    expect(r.exitCode).toBe(0)
    const manifest = JSON.parse(readFileSync(r.envelope.result.manifest, 'utf8')) as {chainId: string; contract: string; block: string; rules: {name: string; sha256: string}; files: Array<{path: string; rows: number}>; signature: {signer: string}}
    expect(manifest).toMatchObject({chainId: '31337', rules: {name: 'safe-harbor'}})
    expect(manifest.signature.signer).toMatch(/^0x/)
    const patientsTable = manifest.files.find((f) => f.path === 'patients.parquet')
    expect(patientsTable?.rows).toBe(4)
    const bytes = readFileSync(join(t.home, 'parquet', 'patients.parquet'))
    const rows = await parquetReadObjects({file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)})
    expect(rows).toHaveLength(4)
  })

  it('k-anonymity suppresses the patients in classes smaller than k', async () => {
    const r = await exportTo('k3', '--format', 'csv', '--k', '3')
    expect(r.exitCode).toBe(0)
    const rows = r.envelope.result.files.find((f) => f.path === 'patients.csv')?.rows ?? 0
    expect(r.envelope.result.suppressed).toBeGreaterThan(0)
    expect(rows + r.envelope.result.suppressed).toBe(4)
  })

  it('a revoked grant removes its patient from the next export', async () => {
    expect((await runJson(['consent', 'revoke', consentToRevoke])).exitCode).toBe(0)
    const r = await exportTo('after-revoke', '--format', 'ndjson')
    expect(r.envelope.result.cohort.included).toBe(3)
    expect(r.envelope.result.cohort.excluded.revoked).toBe(1)
  })

  it('refuses a non-empty output directory without --force', async () => {
    const r = await exportTo('ndjson', '--format', 'ndjson')
    expect(r.envelope.error).toMatchObject({code: 'E_OUT_NOT_EMPTY', exitCode: 2})
  })

  it('the export is in the audit log', async () => {
    const {envelope} = await runJson<{entries: Array<{type: string}>}>(['audit', 'show', '--action', 'export'])
    expect(envelope.result.entries.length).toBeGreaterThanOrEqual(4)
  })
})
