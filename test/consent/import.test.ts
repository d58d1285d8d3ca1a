import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Contract, JsonRpcProvider, Wallet} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadArtifact} from '../../src/lib/chain/artifact.js'
import type {ConsentImportResult} from '../../src/lib/consent/import.js'
import {decodeRecord} from '../../src/lib/consent/registry.js'
import {importConsents} from '../../src/lib/consent/import.js'
import {auditConsents, auditedConsentIds} from '../../src/lib/consent/audit.js'
import {consentContext} from '../../src/lib/consent/context.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {Session} from '../../src/lib/session/session.js'
import {custodianContext} from '../../src/lib/vault/custodian.js'
import {TEST_PASSPHRASE, parseEnvelope, repoRoot, runBin, runJson, spawnBin, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const MRN = 'http://hospital.example/mrn'
const P = `${MRN}|MRN-0001`

type ImportResult = ConsentImportResult

function consent(
  patient: object,
  grantee: string,
  purposes: string[],
  classes: string[],
  end: string,
  extra: Record<string, unknown> = {},
) {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy'}]},
    category: [{coding: [{system: 'http://loinc.org', code: '59284-0'}]}],
    policyRule: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN'}]},
    patient,
    provision: {
      type: 'permit',
      period: {start: '2026-01-01', end},
      actor: [
        {
          role: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP'}]},
          reference: {identifier: {system: 'urn:ietf:rfc:3986', value: `urn:ethereum:${grantee}`}},
        },
      ],
      purpose: purposes.map((code) => ({system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code})),
      class: classes.map((code) => ({system: 'https://medctl.dev/fhir/CodeSystem/data-class', code})),
    },
    ...extra,
  }
}

const ndjson = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'

describe('consent import through the CLI (embedded chain)', () => {
  let t: TestHome
  let clinic: string
  let lab: string
  let provider: JsonRpcProvider
  let registry: Contract

  const grantedEvents = async () => registry.queryFilter(registry.filters.Granted!(), 0, 'latest')

  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
    clinic = (await runJson<{address: string}>(['profile', 'create', 'clinic'])).envelope.result.address
    lab = (await runJson<{address: string}>(['profile', 'create', 'lab'])).envelope.result.address
    const status = await runJson<{rpcUrl: string}>(['node', 'status'])
    const profile = await runJson<{chain: {registry: string}}>(['profile', 'show'])
    provider = new JsonRpcProvider(status.envelope.result.rpcUrl, undefined, {staticNetwork: true, cacheTimeout: -1})
    registry = new Contract(profile.envelope.result.chain.registry, loadArtifact('ConsentRegistry').abi as never, provider)
  }, 120_000)
  afterAll(async () => {
    provider?.destroy()
    await t.cleanup()
  })

  it('NDJSON: valid consents are granted in batches, bad lines go to the report with their line, exit 3', async () => {
    const file = join(t.home, 'consents.ndjson')
    writeFileSync(
      file,
      ndjson([
        consent({identifier: {system: MRN, value: 'MRN-0001'}}, clinic, ['TREAT'], ['labs', 'vitals'], '2027-06-30'),
        consent({reference: 'Patient/p1'}, lab, ['HRESCH'], ['conditions'], '2027-12-31'),
        '{"resourceType": "Consent", ',
        consent({identifier: {system: MRN, value: 'MRN-0001'}}, lab, ['TREAT'], ['labs'], '2027-01-01', {status: 'draft'}),
        consent({identifier: {system: MRN, value: 'MRN-0001'}}, clinic, ['TREAT'], ['labs'], '2027-01-01', {
          provision: {
            type: 'permit',
            period: {start: '2026-01-01'},
            actor: [{role: {text: 'x'}, reference: {identifier: {value: `urn:ethereum:${clinic}`}}}],
            purpose: [{code: 'TREAT'}],
            class: [{code: 'labs'}],
          },
        }),
        consent({reference: 'Patient/nobody'}, clinic, ['TREAT'], ['labs'], '2027-01-01'),
        consent({identifier: {system: MRN, value: 'MRN-0001'}}, clinic, ['FUN'], ['labs'], '2027-01-01'),
      ]),
    )
    const reportPath = join(t.home, 'consent-rejects.ndjson')
    const run = await runJson<ImportResult>(['consent', 'import', file, '--report', reportPath, '--no-anchor'])
    expect(run.exitCode).toBe(3)
    expect(run.envelope).toMatchObject({status: 'partial', exitCode: 3})
    expect(run.envelope.result).toMatchObject({read: 7, granted: 2, duplicates: 0, rejected: 5, transactions: 1})
    expect(Number(run.envelope.result.gasUsed)).toBeGreaterThan(0)

    const report = readFileSync(reportPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as {line: number; code: string})
    expect(report.map((r) => [r.line, r.code])).toEqual([
      [3, 'E_INVALID_JSON'],
      [4, 'E_CONSENT_NOT_ACTIVE'],
      [5, 'E_NO_END'],
      [6, 'E_UNKNOWN_PATIENT'],
      [7, 'E_BAD_PURPOSE'],
    ])

    const treat = await runJson<{decision: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs,vitals',
    ])
    expect(treat.envelope.result.decision).toBe('Permit')
    const research = await runJson<{decision: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'lab',
      '--purpose',
      'HRESCH',
      '--classes',
      'conditions',
    ])
    expect(research.envelope.result.decision).toBe('Permit')

    const audit = await runJson<{entries: Array<{type: string}>}>(['audit', 'show', '--action', 'grant'])
    expect(audit.envelope.result.entries).toHaveLength(2)

    // Idempotent: the same file again grants nothing and sends no transaction.
    const again = await runJson<ImportResult>(['consent', 'import', file, '--report', reportPath, '--no-anchor'])
    expect(again.envelope.result).toMatchObject({read: 7, granted: 0, duplicates: 2, rejected: 5, transactions: 0, gasUsed: '0'})
    expect((await grantedEvents()).length).toBe(2)
  })

  it('CSV with grantee profiles and a dry run that sends nothing', async () => {
    const file = join(t.home, 'consents.csv')
    writeFileSync(
      file,
      [
        'patient,grantee,purpose,classes,from,until,id',
        `${P},lab,HOPERAT,labs;conditions,2026-01-01,2027-03-01,c-1`,
        `${MRN}|MRN-0001,nobody-profile,TREAT,labs,2026-01-01,2027-03-01,c-2`,
        `${MRN}|MRN-0001,clinic,TREAT,spleen,2026-01-01,2027-03-01,c-3`,
      ].join('\n') + '\n',
    )
    const before = (await grantedEvents()).length
    const dry = await runJson<ImportResult & {dryRun: boolean}>(['consent', 'import', file, '--dry-run'])
    expect(dry.exitCode).toBe(3)
    expect(dry.envelope.result).toMatchObject({read: 3, valid: 1, granted: 0, rejected: 2, transactions: 0, dryRun: true})
    // A dry run says why, line by line, even without --report (stderr for people, `rejects` in JSON).
    expect((dry.envelope.result as {rejects?: unknown[]}).rejects).toEqual([
      {line: 3, code: expect.stringMatching(/^E_/)},
      {line: 4, code: 'E_BAD_CLASS'},
    ])
    const human = runBin(['consent', 'import', file, '--dry-run'], {env: t.env})
    expect(human.status).toBe(3)
    expect(human.stderr).toContain('rejected line 4: E_BAD_CLASS')
    expect(human.stdout).toContain('(dry run: listed below)')
    expect((await grantedEvents()).length).toBe(before)

    const real = await runJson<ImportResult>(['consent', 'import', file, '--no-anchor'])
    expect(real.envelope.result).toMatchObject({read: 3, granted: 1, rejected: 2, transactions: 1})
    const report = readFileSync(real.envelope.result.report!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as {line: number; code: string})
    expect(report.map((r) => r.line)).toEqual([3, 4])
    expect(report[1]!.code).toBe('E_BAD_CLASS')
    const check = await runJson<{decision: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'lab',
      '--purpose',
      'HOPERAT',
      '--classes',
      'labs',
    ])
    expect(check.envelope.result.decision).toBe('Permit')
  })

  it('after a revoke-all, importing the same file again re-grants nothing', async () => {
    expect((await runJson(['consent', 'revoke', '--patient', P, '--all'])).exitCode).toBe(0)
    const before = (await grantedEvents()).length
    const again = await runJson<ImportResult>([
      'consent',
      'import',
      join(t.home, 'consents.ndjson'),
      '--report',
      join(t.home, 'r2.ndjson'),
      '--no-anchor',
    ])
    expect(again.envelope.result).toMatchObject({granted: 0, duplicates: 2, transactions: 0})
    expect((await grantedEvents()).length).toBe(before)
    const check = await runJson<{decision: string; reason: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
    ])
    expect(check.envelope.result).toMatchObject({decision: 'Deny', reason: 'Revoked'})
  })

  it('a file that is not consents is a usage error and changes nothing', async () => {
    const r = await runJson(['consent', 'import', join(t.home, 'missing.ndjson')])
    expect(r.exitCode).toBe(2)
    expect(r.envelope.error.code).toBe('E_NO_INPUT')
  })

  it('one consent per purpose; a newer Consent wins its scope whatever the order or the batching, an older one is reported, never revived', async () => {
    const grantee = Wallet.createRandom().address
    const patient = {identifier: {system: MRN, value: 'MRN-0001'}}
    const older = consent(patient, grantee, ['TREAT', 'HPAYMT'], ['labs', 'medications'], '2027-06-30', {dateTime: '2026-02-01T00:00:00Z'})
    const newer = consent(patient, grantee, ['TREAT'], ['labs'], '2027-06-30', {dateTime: '2026-03-01T00:00:00Z'})
    const file = join(t.home, 'newer-first.ndjson')
    writeFileSync(file, ndjson([newer, older]))
    const run = await runJson<ImportResult & {consents: number}>([
      'consent',
      'import',
      file,
      '--batch',
      '1',
      '--no-anchor',
      '--report',
      join(t.home, 'newer-first.rejects.ndjson'),
    ])
    expect(run.exitCode).toBe(3)
    expect(run.envelope.result).toMatchObject({read: 2, consents: 3, granted: 2, rejected: 1})
    const rejects = readFileSync(join(t.home, 'newer-first.rejects.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as {code: string; line: number})
    expect(rejects).toEqual([expect.objectContaining({code: 'E_CONSENT_SUPERSEDED', line: 2})])
    const check = (purpose: string, classes: string) =>
      runJson<{decision: string; reason: string}>([
        'consent',
        'check',
        '--patient',
        'http://hospital.example/mrn|MRN-0001',
        '--grantee',
        grantee,
        '--purpose',
        purpose,
        '--classes',
        classes,
      ])
    expect((await check('TREAT', 'medications')).envelope.result).toMatchObject({decision: 'Deny', reason: 'ClassNotCovered'})
    expect((await check('HPAYMT', 'medications')).envelope.result.decision).toBe('Permit')
    // Re-running (as after a crash) changes nothing and grants nothing twice.
    const before = (await grantedEvents()).length
    const again = await runJson<ImportResult>([
      'consent',
      'import',
      file,
      '--batch',
      '1',
      '--no-anchor',
      '--report',
      join(t.home, 'newer-first.rejects2.ndjson'),
    ])
    expect(again.envelope.result).toMatchObject({granted: 0, duplicates: 2, rejected: 1})
    expect((await grantedEvents()).length).toBe(before)
    expect((await check('TREAT', 'medications')).envelope.result.reason).toBe('ClassNotCovered')
  })

  it('a run killed after its batch was mined (older and newer consent of one scope in it) is recovered: both recorded once, nothing rejected', async () => {
    const grantee = Wallet.createRandom().address
    const patient = {identifier: {system: MRN, value: 'MRN-0001'}}
    const file = join(t.home, 'same-batch.ndjson')
    writeFileSync(
      file,
      ndjson([
        consent(patient, grantee, ['TREAT'], ['labs', 'medications'], '2027-06-30', {dateTime: '2026-02-01T00:00:00Z'}),
        consent(patient, grantee, ['TREAT'], ['labs'], '2027-06-30', {dateTime: '2026-03-01T00:00:00Z'}),
      ]),
    )
    const session = new Session(resolvePaths({env: {MEDCTL_HOME: t.home}}), undefined, async () => TEST_PASSPHRASE)
    try {
      const custodian = await custodianContext(session)
      const ctx = await consentContext(session, {write: true})
      const base = {
        file,
        custodian,
        registry: ctx.registry,
        send: ctx.send,
        batchSize: 10,
        resolveGrantee: (g: string) => g,
        afterBatch: () => session.chainWritten(),
      }
      const before = (await grantedEvents()).length
      // The "crash": the batch is mined, then the process dies before any audit entry or terms.
      await expect(importConsents({...base, audit: async () => Promise.reject(new Error('killed'))})).rejects.toThrow('killed')
      expect((await grantedEvents()).length).toBe(before + 2)
      const auditBefore = (await runJson<{entries: unknown[]}>(['audit', 'show', '--action', 'grant'])).envelope.result.entries.length
      const again = await importConsents({
        ...base,
        audit: (entries) => auditConsents(session, entries),
        auditedGrants: () => auditedConsentIds(session, 'grant'),
      })
      expect(again).toMatchObject({granted: 0, duplicates: 2, rejected: 0, transactions: 0})
      expect((await grantedEvents()).length).toBe(before + 2)
      const audit = await runJson<{entries: Array<{consentId?: string; detail?: {recovered?: boolean}}>}>([
        'audit',
        'show',
        '--action',
        'grant',
      ])
      const added = audit.envelope.result.entries.slice(auditBefore)
      expect(added).toHaveLength(2)
      expect(added.every((e) => e.detail?.recovered === true)).toBe(true)
      // A third run finds both recorded: nothing more to audit.
      const third = await importConsents({
        ...base,
        audit: (entries) => auditConsents(session, entries),
        auditedGrants: () => auditedConsentIds(session, 'grant'),
      })
      expect(third).toMatchObject({granted: 0, duplicates: 2, rejected: 0})
      expect((await runJson<{entries: unknown[]}>(['audit', 'show', '--action', 'grant'])).envelope.result.entries).toHaveLength(
        auditBefore + 2,
      )
    } finally {
      session.close()
    }
  })

  it('an empty consent file is E_EMPTY_INPUT (exit 2), not a silent success; an unknown patient is rejected by line', async () => {
    writeFileSync(join(t.home, 'empty.ndjson'), '')
    const empty = await runJson(['consent', 'import', join(t.home, 'empty.ndjson')])
    expect(empty.envelope.error).toMatchObject({code: 'E_EMPTY_INPUT', exitCode: 2})
    const file = join(t.home, 'unknown.ndjson')
    writeFileSync(file, ndjson([consent({identifier: {system: MRN, value: 'NOT-IN-VAULT'}}, clinic, ['TREAT'], ['labs'], '2027-06-30')]))
    const reportPath = join(t.home, 'unknown.rejects.ndjson')
    const r = await runJson<ImportResult>(['consent', 'import', file, '--no-anchor', '--report', reportPath])
    expect(r.exitCode).toBe(3)
    expect(r.envelope.result).toMatchObject({granted: 0, rejected: 1})
    expect(readFileSync(reportPath, 'utf8')).toContain('E_UNKNOWN_PATIENT')
    expect(readFileSync(reportPath, 'utf8')).not.toContain('NOT-IN-VAULT')
  })

  it('kill -9 in the middle of a migration, then resume: every consent granted exactly once', async () => {
    const total = 400
    const grantees = Array.from({length: 8}, () => Wallet.createRandom().address)
    const lines = Array.from({length: total}, (_, i) =>
      consent(
        {identifier: {system: MRN, value: `MIG-${String(i).padStart(5, '0')}`}},
        grantees[i % grantees.length]!,
        ['TREAT'],
        ['labs'],
        '2027-06-30',
      ),
    )
    const file = join(t.home, 'migration.ndjson')
    writeFileSync(file, ndjson(lines))
    const before = (await grantedEvents()).length
    const auditBefore = (await runJson<{entries: unknown[]}>(['audit', 'show', '--action', 'grant'])).envelope.result.entries.length

    const child = spawnBin(['consent', 'import', file, '--batch', '10', '--no-anchor', '--allow-unknown-patient', '--json'], t.env)
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    let landed = 0
    const deadline = Date.now() + 120_000
    while (Date.now() < deadline) {
      landed = (await grantedEvents()).length - before
      if (landed > 0) break
      await new Promise((r) => setTimeout(r, 25))
    }
    child.kill('SIGKILL')
    await exited
    expect(landed).toBeGreaterThan(0)
    const atKill = (await grantedEvents()).length - before
    expect(atKill).toBeLessThan(total)

    const resumed = await new Promise<string>((resolve) => {
      const again = spawnBin(['consent', 'import', file, '--batch', '50', '--no-anchor', '--allow-unknown-patient', '--json'], t.env)
      let out = ''
      again.stdout.on('data', (d: Buffer) => (out += d.toString()))
      again.once('exit', () => resolve(out))
    })
    const result = parseEnvelope<ImportResult>(resumed).result
    expect(result.read).toBe(total)
    expect(result.rejected).toBe(0)
    expect(result.granted + result.duplicates).toBe(total)
    expect(result.duplicates).toBeGreaterThanOrEqual(atKill)
    expect(result.unknownPatients).toBe(total)

    const events = (await grantedEvents()).slice(before)
    const ids = events.map((e) => decodeRecord((e as unknown as {args: {record: bigint}}).args.record).consentId)
    expect(ids).toHaveLength(total)
    expect(new Set(ids).size).toBe(total)

    // Every grant is in the audit log exactly once, including those the killed run made.
    const audit = await runJson<{entries: Array<{consentId?: string}>}>(['audit', 'show', '--action', 'grant'])
    expect(audit.envelope.result.entries.length - auditBefore).toBe(total)
    const verify = await runJson<{ok: boolean}>(['audit', 'verify'])
    expect(verify.envelope.result.ok).toBe(true)
  }, 300_000)
})
