import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parquetReadObjects} from 'hyparquet'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

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
      for (const a of (p.address as Array<{line?: string[]; city?: string; postalCode?: string}>) ?? [])
        secrets.push(...(a.line ?? []), a.city ?? '', a.postalCode ?? '')
      for (const t of (p.telecom as Array<{value?: string}>) ?? []) secrets.push(t.value ?? '')
      for (const i of (p.identifier as Array<{value?: string}>) ?? []) secrets.push(i.value ?? '')
      const mrn = (p.identifier as Array<{system?: string; value?: string; type?: {coding?: Array<{code?: string}>}}>).find((i) =>
        i.type?.coding?.some((c) => c.code === 'MR'),
      )
      return {id: p.id as string, mrn: `${mrn?.system}|${mrn?.value}`, secrets: secrets.filter((s) => s.length >= 4)}
    })
}

function filesIn(dir: string): string[] {
  return readdirSync(dir).map((f) => join(dir, f))
}

interface Result {
  block: number
  classes: string[]
  cohort: {
    included: number
    excluded: Record<string, number>
    byClass: Record<string, {included: number; excluded: Record<string, number>}>
  }
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
    await initHome(t)
    expect((await runJson(['records', 'import', samples, '--no-anchor'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'lab'])).exitCode).toBe(0)
    for (const p of patients.slice(0, 4)) {
      const g = await runJson<{consents: Array<{consentId: string}>}>([
        'consent',
        'grant',
        '--patient',
        p.mrn,
        '--grantee',
        'lab',
        '--purpose',
        'HRESCH',
        '--classes',
        CLASSES,
        '--until',
        '365d',
      ])
      expect(g.exitCode).toBe(0)
      consentToRevoke = g.envelope.result.consents[0]?.consentId as string
    }
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          patients[4]!.mrn,
          '--grantee',
          'lab',
          '--purpose',
          'HRESCH',
          '--classes',
          'demographics',
          '--until',
          '365d',
        ])
      ).exitCode,
    ).toBe(0)
    // A patient who granted labs only: in the labs rows and, for k-anonymity, a bare Patient; nowhere else.
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          patients[5]!.mrn,
          '--grantee',
          'lab',
          '--purpose',
          'HRESCH',
          '--classes',
          'labs',
          '--until',
          '365d',
        ])
      ).exitCode,
    ).toBe(0)
    expect((await runJson(['profile', 'create', 'nobody'])).exitCode).toBe(0)
    keyFile = join(t.home, 'export.key')
    writeFileSync(keyFile, `${'5a'.repeat(32)}\n`)
  }, 300_000)
  afterAll(async () => t.cleanup())

  const exportTo = (name: string, ...extra: string[]) =>
    runJson<Result>([
      'export',
      'research',
      '--grantee',
      'lab',
      '--classes',
      CLASSES,
      '--out',
      join(t.home, name),
      ...(extra.includes('--k') ? [] : ['--k', '1']),
      ...extra,
    ])

  let first: Result
  it('a cohort per class: each patient contributes the requested classes they granted; counts per class, who is out and why', async () => {
    const r = await exportTo('ndjson', '--format', 'ndjson', '--key-file', keyFile)
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    first = r.envelope.result
    expect(first.cohort.included).toBe(6)
    expect(first.cohort.byClass.demographics).toMatchObject({included: 5, excluded: {classNotCovered: 1}})
    expect(first.cohort.byClass.conditions).toMatchObject({included: 4, excluded: {classNotCovered: 2}})
    expect(first.cohort.byClass.labs).toMatchObject({included: 5, excluded: {classNotCovered: 1}})
    const patientFile = first.files.find((f) => f.path.startsWith('Patient'))
    expect(patientFile?.rows).toBe(6)
    // The labs-only patient's Patient holds the quasi-identifiers only (no race, marital status, language).
    const lines = readFileSync(join(t.home, 'ndjson', 'Patient.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const bare = lines.filter((p) => p.extension === undefined && p.maritalStatus === undefined)
    expect(bare).toHaveLength(1)
    expect(Object.keys(bare[0]).sort()).toEqual(expect.arrayContaining(['birthDate', 'gender', 'id', 'resourceType']))
  })

  it('without --classes, a patient who granted part of the default classes is in the export with that part (was: 0 patients, exit 0)', async () => {
    const r = await runJson<Result>([
      'export',
      'research',
      '--grantee',
      'lab',
      '--k',
      '1',
      '--format',
      'csv',
      '--out',
      join(t.home, 'default-classes'),
    ])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result.cohort.included).toBe(6)
    expect(r.envelope.result.cohort.byClass.encounters).toMatchObject({included: 0})
    expect(r.envelope.result.cohort.byClass.immunizations).toMatchObject({included: 4})
    const rows = Object.fromEntries(r.envelope.result.files.map((f) => [f.path, f.rows]))
    expect(rows['patients.csv']).toBe(6)
    expect(rows['observations.csv']).toBeGreaterThan(0)
    expect(rows['encounters.csv']).toBe(0)
  })

  it('writes tables only for the requested classes, and a schema.sql; the manifest records the schema', async () => {
    const r = await runJson<Result>([
      'export',
      'research',
      '--grantee',
      'lab',
      '--classes',
      'labs',
      '--k',
      '1',
      '--format',
      'parquet',
      '--out',
      join(t.home, 'labs-only'),
    ])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result.files.map((f) => f.path)).toEqual(['observations.parquet', 'patients.parquet', 'schema.sql'])
    expect(r.envelope.result.cohort.included).toBe(5)
    const manifest = JSON.parse(readFileSync(r.envelope.result.manifest, 'utf8')) as {
      schema: Record<string, Array<{name: string; type: string}>>
    }
    expect(Object.keys(manifest.schema).sort()).toEqual(['observations', 'patients'])
    expect(manifest.schema.patients.find((c) => c.name === 'zip3')).toEqual({name: 'zip3', type: 'VARCHAR'})
  })

  it('an empty cohort fails with E_EMPTY_COHORT, exit 3, and writes nothing; --allow-empty writes it with a warning', async () => {
    const out = join(t.home, 'empty')
    const r = await runJson<Result>(['export', 'research', '--grantee', 'nobody', '--k', '1', '--out', out])
    expect(r.exitCode).toBe(3)
    expect(r.envelope.error).toMatchObject({code: 'E_EMPTY_COHORT', exitCode: 3})
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([])
    const allowed = await runJson<Result>(['export', 'research', '--grantee', 'nobody', '--k', '1', '--out', out, '--allow-empty'])
    expect(allowed.exitCode).toBe(0)
    expect(allowed.envelope.result.cohort.excluded).toMatchObject({noConsent: 6})
    expect((allowed.envelope as unknown as {warnings: string[]}).warnings.join(' ')).toMatch(/empty/)
  })

  it('k-anonymity that suppresses everyone says so and exits 3 (E_K_SUPPRESSED_ALL)', async () => {
    const r = await exportTo('k-all', '--format', 'csv', '--k', '7')
    expect(r.exitCode).toBe(3)
    expect(r.envelope.error).toMatchObject({code: 'E_K_SUPPRESSED_ALL', exitCode: 3})
    expect(r.envelope.error?.message).toMatch(/suppressed all 6/)
  })

  it('no name, street, city, full ZIP, phone, SSN, MRN, licence or passport number; no full date; no on-chain subject', async () => {
    const subjects = (await runJson<{patients: Array<{subject: string}>}>(['records', 'list'])).envelope.result.patients.map(
      (p) => p.subject,
    )
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
    for (const f of first.files)
      expect(readFileSync(join(t.home, 'ndjson-again', f.path))).toEqual(readFileSync(join(t.home, 'ndjson', f.path)))
    expect(readFileSync(join(t.home, 'ndjson-again', 'manifest.json'))).toEqual(readFileSync(join(t.home, 'ndjson', 'manifest.json')))
  })

  it('Parquet tables read back with the same library; the manifest pins chain, block, rules and hashes', async () => {
    const r = await exportTo('parquet', '--format', 'parquet', '--key-file', keyFile)
    expect(r.exitCode).toBe(0)
    const manifest = JSON.parse(readFileSync(r.envelope.result.manifest, 'utf8')) as {
      chainId: string
      contract: string
      block: string
      rules: {name: string; sha256: string}
      files: Array<{path: string; rows: number}>
      signature: {signer: string}
    }
    expect(manifest).toMatchObject({chainId: '31337', rules: {name: 'safe-harbor'}})
    expect(manifest.signature.signer).toMatch(/^0x/)
    const patientsTable = manifest.files.find((f) => f.path === 'patients.parquet')
    expect(patientsTable?.rows).toBe(6)
    const bytes = readFileSync(join(t.home, 'parquet', 'patients.parquet'))
    const rows = await parquetReadObjects({file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)})
    expect(rows).toHaveLength(6)
  })

  it('k-anonymity suppresses the patients in classes smaller than k', async () => {
    // gender alone: 4 male, 2 female -> the 2 women are suppressed at k = 3
    const r = await exportTo('k3', '--format', 'csv', '--k', '3', '--quasi-identifiers', 'gender')
    expect(r.exitCode).toBe(0)
    const rows = r.envelope.result.files.find((f) => f.path === 'patients.csv')?.rows ?? 0
    expect(r.envelope.result.suppressed).toBeGreaterThan(0)
    expect(r.envelope.result.suppressed).toBe(2)
    expect(rows + r.envelope.result.suppressed).toBe(6)
    expect((r.envelope as unknown as {warnings: string[]}).warnings.join(' ')).toMatch(/suppressed \d+ of 6/)
  })

  it('a revoked grant removes its patient from the next export', async () => {
    expect((await runJson(['consent', 'revoke', consentToRevoke])).exitCode).toBe(0)
    const r = await exportTo('after-revoke', '--format', 'ndjson')
    expect(r.envelope.result.cohort.included).toBe(5)
    expect(r.envelope.result.cohort.excluded.revoked).toBe(1)
  })

  it('refuses a non-empty output directory without --force', async () => {
    const r = await exportTo('ndjson', '--format', 'ndjson')
    expect(r.envelope.error).toMatchObject({code: 'E_OUT_NOT_EMPTY', exitCode: 2})
  })

  it("--deliver-to without --deliver-out: the sealed delivery goes to the profile's store; the lab opens it by CID, no one else can", async () => {
    const r = await exportTo('delivered', '--format', 'csv', '--deliver-to', 'lab')
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    const delivery = (r.envelope.result as Result & {delivery: {delivery: string; packageCid: string; files: number}}).delivery
    expect(delivery).toMatchObject({delivery: 'embedded', files: r.envelope.result.files.length + 1})
    // the profile named "nobody" holds a key too, but the package was sealed to the lab's
    const other = await runJson(['export', 'verify', delivery.packageCid, '--profile', 'nobody'])
    expect(other.exitCode).toBe(5)
    expect(other.envelope.error.code).toBe('E_NOT_FOR_YOU')
    // verified and discarded without --out; written with it
    const checked = await runJson<{ok: boolean; delivery: {kind: string; out: string | null}}>([
      'export',
      'verify',
      delivery.packageCid,
      '--profile',
      'lab',
    ])
    expect(checked.exitCode, JSON.stringify(checked.envelope)).toBe(0)
    expect(checked.envelope.result).toMatchObject({ok: true, delivery: {kind: 'embedded', out: null}})
    const out = join(t.home, 'lab-copy')
    const kept = await runJson<{ok: boolean; files: Array<{path: string; status: string}>}>([
      'export',
      'verify',
      delivery.packageCid,
      '--profile',
      'lab',
      '--out',
      out,
    ])
    expect(kept.exitCode).toBe(0)
    for (const f of r.envelope.result.files)
      expect(readFileSync(join(out, f.path))).toEqual(readFileSync(join(t.home, 'delivered', f.path)))
    // --out must be new or empty, and means nothing for a directory
    expect((await runJson(['export', 'verify', delivery.packageCid, '--profile', 'lab', '--out', out])).envelope.error).toMatchObject({
      code: 'E_BAD_OUT',
      exitCode: 2,
    })
    expect((await runJson(['export', 'verify', out, '--out', join(t.home, 'x')])).envelope.error).toMatchObject({
      code: 'E_OUT_WITH_DIR',
      exitCode: 2,
    })
  })

  it('a delivery to someone other than the grantee is refused before anything is written', async () => {
    const r = await exportTo('astray', '--deliver-to', 'nobody')
    expect(r.envelope.error).toMatchObject({code: 'E_DELIVER_NOT_GRANTEE', exitCode: 2})
    expect(existsSync(join(t.home, 'astray'))).toBe(false)
  })

  it('the export is in the audit log', async () => {
    const {envelope} = await runJson<{entries: Array<{type: string; outcome: string; reason?: string}>}>([
      'audit',
      'show',
      '--action',
      'export',
    ])
    expect(envelope.result.entries.length).toBeGreaterThanOrEqual(4)
    // A refused export is audited too, with its code.
    expect(envelope.result.entries).toContainEqual(expect.objectContaining({outcome: 'failure', reason: 'E_EMPTY_COHORT'}))
  })
})
