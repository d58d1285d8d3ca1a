import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {classOf, type FhirResource} from '../../src/lib/fhir/index.js'
import {repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

interface ShareResult {
  packageCid: string
  classes: string[]
  objects: number
}

describe('consent-gated access: records share (custodian) and records fetch (grantee), on the embedded chain', () => {
  let t: TestHome
  let consentId: string
  let packageCid: string
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect((await runJson(['records', 'import', samples])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    const granted = await runJson<{consents: Array<{consentId: string}>}>([
      'consent',
      'grant',
      '--patient',
      PATIENT,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs,conditions',
      '--until',
      '30d',
    ])
    expect(granted.exitCode, JSON.stringify(granted.envelope)).toBe(0)
    consentId = granted.envelope.result.consents[0]?.consentId as string
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('share releases exactly the granted classes the patient has', async () => {
    const shared = await runJson<ShareResult>(['records', 'share', '--patient', PATIENT, '--to', 'clinic', '--purpose', 'TREAT'])
    expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
    expect(shared.envelope.result.classes.sort()).toEqual(['conditions', 'labs'])
    expect(shared.envelope.result.packageCid).toMatch(/^baf/)
    packageCid = shared.envelope.result.packageCid
  })

  it('the grantee fetches a FHIR Bundle of exactly those classes', async () => {
    const out = join(t.home, 'clinic-view.json')
    const fetched = await runJson<{resources: number; classes: string[]}>([
      'records',
      'fetch',
      packageCid,
      '--out',
      out,
      '--profile',
      'clinic',
    ])
    expect(fetched.exitCode, JSON.stringify(fetched.envelope)).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(bundle.entry.length).toBe(fetched.envelope.result.resources)
    expect(bundle.entry.length).toBeGreaterThan(0)
    expect(new Set(bundle.entry.map((e) => classOf(e.resource)))).toEqual(new Set(['conditions', 'labs']))
  })

  it('another profile cannot open the package (it is encrypted to the grantee)', async () => {
    expect((await runJson(['profile', 'create', 'lab'])).exitCode).toBe(0)
    const stolen = await runJson(['records', 'fetch', packageCid, '--out', join(t.home, 'x.json'), '--profile', 'lab'])
    expect(stolen.exitCode).toBe(5)
  })

  it('a class not covered, or a purpose not covered, is refused with exit 5 and no key', async () => {
    const vitals = await runJson([
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs,vitals',
    ])
    expect(vitals.exitCode).toBe(5)
    expect(vitals.envelope.error.code).toBe('E_ACCESS_DENIED')
    expect(vitals.envelope.error.details).toMatchObject({reason: 'ClassNotCovered'})
    const research = await runJson(['records', 'share', '--patient', PATIENT, '--to', 'clinic', '--purpose', 'HRESCH'])
    expect(research.exitCode).toBe(5)
  })

  it('after a revoke no key is released and the old package no longer opens', async () => {
    expect((await runJson(['consent', 'revoke', consentId])).exitCode).toBe(0)
    const again = await runJson(['records', 'share', '--patient', PATIENT, '--to', 'clinic', '--purpose', 'TREAT'])
    expect(again.exitCode).toBe(5)
    expect(again.envelope.error.details).toMatchObject({reason: 'Revoked'})
    const old = await runJson(['records', 'fetch', packageCid, '--out', join(t.home, 'late.json'), '--profile', 'clinic'])
    expect(old.exitCode).toBe(5)
  })
})
