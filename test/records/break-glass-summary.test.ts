import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {classOf, validateFhir, type FhirResource} from '../../src/lib/fhir/index.js'
import {repoRoot, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'
import {r4Problems} from '../deid/r4.js'

const SAMPLE = join(repoRoot, 'data', 'samples', 'synthea-r4', 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json')
const P = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'
const EMERGENCY = ['allergies', 'conditions', 'labs', 'medications']

interface Item {
  text: string
  ref: string
}
interface Summary {
  allergies: Item[]
  medications: Item[]
  conditions: Item[]
  bloodGroup: Item | null
  vitals: Item[]
}
interface PackageSummary {
  subject: string
  summary: Summary
  out?: string
  package: {classes: string[]; breakGlass: boolean; purpose: string}
}
interface AuditEntries {
  entries: Array<{type: string; outcome: string; reason?: string; subject?: string; classes?: string[]; detail?: Record<string, unknown>}>
}

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({jsonrpc: '2.0', id: 1, method, params}),
  })
  return ((await res.json()) as {result: unknown}).result
}

describe("the emergency summary under break-glass: an ER clinician in its own home, on the hospital's chain", () => {
  let hospital: TestHome
  let er: TestHome
  let erAddress: string
  let rpcUrl: string
  /** The emergency classes this patient has records in. */
  let released: string[]
  const car = () => join(hospital.home, 'emergency.car')
  /** Runs a command in-process with `home` as MEDCTL_HOME. */
  const inHome = async <R = Record<string, unknown>>(home: TestHome, args: string[]) => {
    Object.assign(process.env, home.env)
    return runJson<R>(args)
  }

  beforeAll(async () => {
    hospital = useTempHome()
    er = useTempHome()
    const init = await inHome<{rpcUrl: string}>(hospital, ['init'])
    expect(init.exitCode).toBe(0)
    rpcUrl = init.envelope.result.rpcUrl
    expect((await inHome(hospital, ['records', 'import', SAMPLE, '--no-anchor'])).exitCode).toBe(0)
    const listed = await inHome<{patients: Array<{classes: string[]}>}>(hospital, ['records', 'list', '--patient', P])
    released = EMERGENCY.filter((c) => listed.envelope.result.patients[0]?.classes.includes(c))
    expect(released.length).toBeGreaterThanOrEqual(3)
    const network = join(hospital.home, 'network.json')
    expect((await inHome(hospital, ['network', 'export', '--out', network])).exitCode).toBe(0)
    const registration = join(er.home, 'er-registration.json')
    const joined = await inHome<{address: string}>(er, ['init', '--join', network, '--name', 'er', '--registration-out', registration])
    expect(joined.exitCode).toBe(0)
    erAddress = joined.envelope.result.address
    expect((await inHome(hospital, ['network', 'admit', registration])).exitCode).toBe(0)
  }, 300_000)
  afterAll(async () => {
    await er?.cleanup()
    await hospital?.cleanup()
  })

  it('without an open break-glass window the custodian releases nothing (exit 5), and the refusal is audited', async () => {
    const r = await inHome(hospital, ['records', 'share', '--patient', P, '--to', erAddress, '--purpose', 'BTG', '--out', car()])
    expect([r.exitCode, r.envelope.error.code]).toEqual([5, 'E_ACCESS_DENIED'])
    const audit = await inHome<AuditEntries>(hospital, ['audit', 'show', '--action', 'consent-decision', '--outcome', 'denied'])
    expect(audit.envelope.result.entries.some((e) => e.detail?.grantee === erAddress)).toBe(true)
  })

  it("under break-glass the release is the summary's classes only (allergies, medications, conditions, labs), flagged BreakGlass in the log", async () => {
    const opened = await inHome(hospital, [
      'consent',
      'break-glass',
      '--patient',
      P,
      '--grantee',
      erAddress,
      '--reason',
      'unconscious-on-arrival',
      '--hours',
      '1',
    ])
    expect(opened.exitCode, JSON.stringify(opened.envelope)).toBe(0)
    // asking for another class explicitly is refused: break-glass is not a consent to the record
    const notes = await inHome(hospital, [
      'records',
      'share',
      '--patient',
      P,
      '--to',
      erAddress,
      '--purpose',
      'BTG',
      '--classes',
      'allergies,encounters',
      '--out',
      car(),
    ])
    expect([notes.exitCode, notes.envelope.error.code]).toEqual([5, 'E_ACCESS_DENIED'])
    expect(notes.envelope.error.message).toMatch(/emergency summary's classes .*not encounters/)
    const shared = await inHome<{classes: string[]; withheld: Array<{class: string; reason: string}>}>(hospital, [
      'records',
      'share',
      '--patient',
      P,
      '--to',
      erAddress,
      '--purpose',
      'BTG',
      '--out',
      car(),
    ])
    expect(shared.exitCode).toBe(0)
    expect(shared.envelope.result.classes.sort()).toEqual(released)
    expect(shared.envelope.result.withheld.map((w) => w.class)).toEqual(expect.arrayContaining(['demographics', 'encounters', 'vitals']))
    expect(shared.envelope.result.withheld.every((w) => w.reason === 'NotInEmergencySummary')).toBe(true)
    const audit = await inHome<AuditEntries>(hospital, ['audit', 'show', '--action', 'key-release'])
    const release = audit.envelope.result.entries.at(-1)
    expect(release).toMatchObject({outcome: 'success', reason: 'BreakGlass', detail: {grantee: erAddress, breakGlass: true}})
    expect(release?.classes?.sort()).toEqual(released)
  })

  it("the clinician gets exactly the emergency summary in its own home: the same items as the custodian's, a valid IPS Bundle; audited there", async () => {
    const out = join(er.home, 'ips.json')
    const r = await inHome<PackageSummary>(er, ['records', 'summary', '--package', car(), '--format', 'ips', '--out', out])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result.package).toMatchObject({breakGlass: true, purpose: 'BTG'})
    expect(r.envelope.warnings.join(' ')).toMatch(/break-glass/)
    const mine = (await inHome<{summary: Summary}>(hospital, ['records', 'summary', '--patient', P, '--format', 'json'])).envelope.result
      .summary
    const theirs = r.envelope.result.summary
    const refs = (items: Item[]) => items.map((i) => i.ref).sort()
    expect(refs(theirs.allergies)).toEqual(refs(mine.allergies))
    expect(refs(theirs.medications)).toEqual(refs(mine.medications))
    expect(refs(theirs.conditions)).toEqual(refs(mine.conditions))
    expect(theirs.bloodGroup?.ref).toBe(mine.bloodGroup?.ref)
    expect(theirs.conditions.length + theirs.medications.length + theirs.allergies.length).toBeGreaterThan(0)
    // vital signs are not among the classes break-glass opens
    expect(theirs.vitals).toEqual([])
    const ips = JSON.parse(readFileSync(out, 'utf8')) as FhirResource & {type: string; entry: Array<{resource: FhirResource}>}
    expect(ips.type).toBe('document')
    expect(r4Problems(ips)).toEqual([])
    expect(validateFhir(ips)).toBeUndefined()
    // nothing outside the four classes is in the document (no Patient: demographics were not released)
    for (const e of ips.entry.slice(1)) expect(EMERGENCY).toContain(classOf(e.resource))
    const audit = await inHome<AuditEntries>(er, ['audit', 'show', '--action', 'fetch'])
    expect(audit.envelope.result.entries.at(-1)).toMatchObject({
      outcome: 'success',
      reason: 'BreakGlass',
      detail: {what: 'emergency-summary', breakGlass: true},
    })
    // for a person at the terminal: the table on stdout, the break-glass warning on stderr
    const human = runBin(['records', 'summary', '--package', car()], {env: er.env})
    expect(human.status).toBe(0)
    expect(human.stdout).toMatch(/condition/)
    expect(human.stderr).toMatch(/break-glass/)
  })

  it('even a raw `records fetch` of the package yields only those four classes', async () => {
    const out = join(er.home, 'raw.json')
    expect((await inHome(er, ['records', 'fetch', car(), '--out', out])).exitCode).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(bundle.entry.length).toBeGreaterThan(0)
    expect([...new Set(bundle.entry.map((e) => classOf(e.resource)))].sort()).toEqual(released)
  })

  it('once the window has closed the clinician decrypts nothing (exit 5, audited) and the custodian releases nothing', async () => {
    await rpc(rpcUrl, 'evm_increaseTime', [2 * 3600])
    await rpc(rpcUrl, 'evm_mine', [])
    const r = await inHome(er, ['records', 'summary', '--package', car(), '--format', 'json'])
    expect([r.exitCode, r.envelope.error.code]).toEqual([5, 'E_ACCESS_DENIED'])
    const audit = await inHome<AuditEntries>(er, ['audit', 'show', '--action', 'fetch', '--outcome', 'denied'])
    expect(audit.envelope.result.entries.length).toBeGreaterThan(0)
    const bin = runBin(['records', 'summary', '--package', car()], {env: er.env})
    expect(bin.status).toBe(5)
    expect(bin.stdout).toBe('')
    const again = await inHome(hospital, [
      'records',
      'share',
      '--patient',
      P,
      '--to',
      erAddress,
      '--purpose',
      'BTG',
      '--out',
      join(hospital.home, 'late.car'),
    ])
    expect(again.exitCode).toBe(5)
  })
})
