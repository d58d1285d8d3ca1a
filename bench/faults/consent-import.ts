/**
 * Fault job 3: `medctl consent import` of generated FHIR Consent NDJSON — broad older consents,
 * narrower newer ones for the same scope (before and after them in the file), research consents to
 * a second grantee and one line naming an unknown patient — killed at a random point and run again.
 * One home and one chain for every trial: each trial (and the clean run) uses three fresh grantee
 * addresses, so its consents are new scopes; states are compared with grantees replaced by their
 * index.
 */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {JsonRpcProvider, Wallet} from 'ethers'
import {registryContract, type ConsentRegistry} from '../../src/lib/chain/registry.js'
import {purposeBit, type Purpose} from '../../src/lib/consent/model.js'
import {currentConsent, decodeRecord} from '../../src/lib/consent/registry.js'
import {generate} from '../import/generate.js'
import {
  Tally,
  countBy,
  homeAt,
  killAfter,
  medctl,
  ok,
  summarise,
  type Home,
  type JobContext,
  type JobReport,
  type TrialReport,
} from './harness.js'

export interface ConsentJobOptions {
  /** Patients in the vault the consents name. */
  patients: number
  /** Consents per transaction (--batch). */
  batch: number
}

interface ConsentImportResult {
  read: number
  granted: number
  duplicates: number
  rejected: number
  consents: number
}

const MRN_SYSTEM = 'http://hospital.smarthealthit.org'
const OLDER = '2026-02-01T00:00:00Z'
const NEWER = '2026-03-01T00:00:00Z'
const RESEARCH = '2026-01-15T00:00:00Z'

function consent(mrn: string, grantee: string, purposes: Purpose[], classes: string[], end: string, dateTime: string) {
  return {
    resourceType: 'Consent',
    status: 'active',
    dateTime,
    scope: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy'}]},
    category: [{coding: [{system: 'http://loinc.org', code: '59284-0'}]}],
    policyRule: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN'}]},
    patient: {identifier: {system: MRN_SYSTEM, value: mrn}},
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
  }
}

interface Plan {
  lines: string[]
  /** `${mrn}|g${index}|${purpose}` -> the newest Consent's date (ms) for that scope: what must be active. */
  newest: Map<string, number>
}

/** The consent file of one run for grantees g0, g1, g2 (the same shape every run). */
function plan(patients: number, grantees: string[]): Plan {
  const lines: string[] = []
  const newest = new Map<string, number>()
  const add = (mrn: string, g: number, purposes: Purpose[], classes: string[], end: string, dateTime: string) => {
    lines.push(JSON.stringify(consent(mrn, grantees[g] as string, purposes, classes, end, dateTime)))
    for (const purpose of purposes) {
      const key = `${mrn}|g${g}|${purpose}`
      newest.set(key, Math.max(newest.get(key) ?? 0, Date.parse(dateTime)))
    }
  }
  for (let p = 0; p < patients; p++) {
    const mrn = `MRN-${100000 + p}`
    const g = p % 3
    const h = (p + 1) % 3
    const older = () => add(mrn, g, ['TREAT', 'HPAYMT'], ['labs', 'medications'], '2027-06-30', OLDER)
    const newer = () => add(mrn, g, ['TREAT'], ['labs'], '2027-06-30', NEWER)
    const research = () => add(mrn, h, ['HRESCH'], ['conditions'], '2027-12-31', RESEARCH)
    if (p % 4 === 0) [newer, older, research].forEach((f) => f())
    else if (p % 4 === 1) [older, research].forEach((f) => f())
    else if (p % 4 === 2) [older, research, newer].forEach((f) => f())
    else research()
    if (p === Math.floor(patients / 2))
      lines.push(JSON.stringify(consent('MRN-NOT-IN-VAULT', grantees[0] as string, ['TREAT'], ['labs'], '2027-06-30', OLDER)))
  }
  return {lines, newest}
}

interface ChainState {
  /** Normalised granted records (`${mrn}|g${i}|${purpose}|${ms}|${classes}`), one per Granted event. */
  granted: string[]
  /** consent id -> Granted events carrying it. */
  grantedIds: Map<string, number>
  /** scope -> normalised current consent (`${ms}|${classes}|${revoked}`), or 'none'. */
  active: Map<string, string>
  /** consent id -> grant audit entries naming it (for this run's grantees). */
  audited: Map<string, number>
  auditOk: boolean
}

interface Chain {
  provider: JsonRpcProvider
  registry: ConsentRegistry
  /** subject pseudonym -> MRN value, and back. */
  mrnOf: Map<string, string>
  subjectOf: Map<string, string>
}

async function chainState(home: Home, chain: Chain, grantees: string[], fromBlock: number, scopes: Iterable<string>): Promise<ChainState> {
  const index = new Map(grantees.map((g, i) => [g.toLowerCase(), i]))
  const granted: string[] = []
  const grantedIds = new Map<string, number>()
  for (const grantee of grantees) {
    const events = await chain.registry.queryFilter(chain.registry.filters.Granted!(null, grantee), fromBlock, 'latest')
    for (const event of events) {
      const {args} = event as unknown as {args: {subject: string; record: bigint}}
      const record = decodeRecord(args.record)
      grantedIds.set(record.consentId, (grantedIds.get(record.consentId) ?? 0) + 1)
      granted.push(
        `${chain.mrnOf.get(args.subject.toLowerCase()) ?? args.subject}|g${index.get(grantee.toLowerCase())}|${record.purpose}|${Number(record.nonce / 64n)}|${record.classes}`,
      )
    }
  }
  const active = new Map<string, string>()
  for (const scope of scopes) {
    const [mrn, g, purpose] = scope.split('|') as [string, string, Purpose]
    const subject = chain.subjectOf.get(mrn)
    if (!subject) continue
    const current = await currentConsent(chain.registry, subject, grantees[Number(g.slice(1))] as string, purposeBit(purpose))
    active.set(scope, current.consentId ? `${Number(current.nonce / 64n)}|${current.classes}|${current.revoked}` : 'none')
  }
  const entries = ok(
    await medctl<{entries: Array<{consentId?: string; detail?: {grantee?: string}}>}>(['audit', 'show', '--action', 'grant'], home),
    'audit show',
  ).result.entries
  const audited = countBy(
    entries.filter((e) => index.has(String(e.detail?.grantee ?? '').toLowerCase())).map((e) => String(e.consentId).toLowerCase()),
  )
  const verify = await medctl<{ok: boolean}>(['audit', 'verify'], home)
  return {granted: granted.sort(), grantedIds, active, audited, auditOk: verify.code === 0 && verify.envelope?.result.ok === true}
}

function multisetMinus(a: string[], b: string[]): number {
  const left = countBy(b)
  let n = 0
  for (const item of a) {
    const c = left.get(item) ?? 0
    if (c > 0) left.set(item, c - 1)
    else n++
  }
  return n
}

function compare(t: Tally, got: ChainState, clean: ChainState, newest: Map<string, number>): void {
  t.addDuplicated(
    [...got.grantedIds.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
    'consent ids granted more than once on chain',
  )
  t.addLost(multisetMinus(clean.granted, got.granted), 'grants of the clean run missing on chain')
  t.addWrong(multisetMinus(got.granted, clean.granted), 'grants on chain the clean run did not make')
  for (const [scope, ms] of newest) {
    const active = got.active.get(scope)
    if (!active || active === 'none') t.addLost(1, `scope ${scope} holds no consent`)
    else {
      const [at, , revoked] = active.split('|')
      if (Number(at) !== ms)
        t.addWrong(
          1,
          `scope ${scope}: a superseded consent (of ${new Date(Number(at)).toISOString()}) is active, not the newest (${new Date(ms).toISOString()})`,
        )
      else if (revoked !== 'false') t.addWrong(1, `scope ${scope}: the newest consent is revoked`)
      else t.expect(active === clean.active.get(scope), `scope ${scope}: ${active}, clean run ${clean.active.get(scope)}`)
    }
  }
  for (const id of got.grantedIds.keys()) {
    const entries = got.audited.get(id) ?? 0
    if (entries === 0) t.addLost(1, `granted consent ${id} has no grant audit entry`)
    else t.addDuplicated(entries - 1, `consent ${id} has ${entries} grant audit entries`)
  }
  t.addWrong(
    [...got.audited.keys()].filter((id) => !got.grantedIds.has(id)).length,
    'grant audit entries for consents not granted on chain',
  )
  t.expect(got.auditOk, '`audit verify` fails')
}

export async function consentImportJob(ctx: JobContext, options: ConsentJobOptions): Promise<JobReport> {
  const home = homeAt(join(ctx.work, 'home'))
  ok(await medctl(['init'], home), 'init (consent job)')
  const input = join(ctx.work, 'patients')
  await generate({patients: options.patients, perPatient: 1, out: input, seed: 20})
  ok(await medctl(['records', 'import', input, '--no-anchor'], home), 'records import (consent job setup)')
  const listing = ok(
    await medctl<{patients: Array<{subject: string; identifier: string}>}>(['records', 'list', '--show-identifiers'], home),
    'records list',
  ).result.patients
  const mrnOf = new Map(listing.map((p) => [p.subject.toLowerCase(), p.identifier.split('|')[1] as string]))
  const subjectOf = new Map([...mrnOf].map(([s, m]) => [m, s]))
  const rpcUrl = ok(await medctl<{rpcUrl: string}>(['node', 'status'], home), 'node status').result.rpcUrl
  const registryAddress = ok(await medctl<{chain: {registry: string}}>(['profile', 'show'], home), 'profile show').result.chain.registry
  const provider = new JsonRpcProvider(rpcUrl, undefined, {staticNetwork: true, cacheTimeout: -1})
  const chain: Chain = {provider, registry: registryContract(registryAddress, provider), mrnOf, subjectOf}
  const args = (file: string, report: string) => ['consent', 'import', file, '--batch', String(options.batch), '--report', report]

  try {
    const run = async (name: string, kill?: number) => {
      const grantees = Array.from({length: 3}, () => Wallet.createRandom().address)
      const {lines, newest} = plan(options.patients, grantees)
      const file = join(ctx.work, `${name}.ndjson`)
      writeFileSync(file, `${lines.join('\n')}\n`)
      const fromBlock = await provider.getBlockNumber()
      const killed =
        kill === undefined ? undefined : await killAfter(args(file, join(ctx.work, `${name}.killed.rejects.ndjson`)), home, kill)
      const done = await medctl<ConsentImportResult>(args(file, join(ctx.work, `${name}.rejects.ndjson`)), home)
      const state = await chainState(home, chain, grantees, fromBlock, newest.keys())
      return {lines, newest, killed, done, state}
    }

    const clean = await run('clean')
    const cleanResult = ok(clean.done, 'clean consent import', [3]).result
    const baseline = new Tally()
    compare(baseline, clean.state, clean.state, clean.newest)
    if (!baseline.clean) throw new Error(`the clean consent import itself fails the checks: ${baseline.problems.join('; ')}`)
    ctx.log(
      `consent import: clean run ${(clean.done.ms / 1000).toFixed(1)} s, ${clean.lines.length} lines, ${cleanResult.consents} consents, ${clean.state.granted.length} grants`,
    )

    const trials: TrialReport[] = []
    for (let trial = 1; trial <= ctx.trials; trial++) {
      const delayMs = Math.round(ctx.random() * clean.done.ms)
      const r = await run(`trial-${trial}`, delayMs)
      const t = new Tally()
      t.expect(
        r.done.code === clean.done.code,
        `rerun exit ${r.done.code}, clean ${clean.done.code}: ${r.done.envelope?.error?.code ?? ''} ${r.done.stderr.slice(0, 300)}`,
      )
      const result = r.done.envelope?.result
      if (!result || (r.done.envelope?.status ?? 'error') === 'error') t.addWrong(1, 'rerun gave no result')
      else {
        t.expect(result.read === clean.lines.length, `rerun read ${result.read} of ${clean.lines.length} lines`)
        t.addLost(
          result.read - result.granted - result.duplicates - result.rejected,
          'consent lines neither granted, duplicate nor rejected',
        )
        t.expect(
          result.rejected === cleanResult.rejected && result.consents === cleanResult.consents,
          `rerun rejected ${result.rejected} of ${result.consents}, clean ${cleanResult.rejected} of ${cleanResult.consents}`,
        )
      }
      compare(t, r.state, clean.state, r.newest)
      trials.push({
        trial,
        delayMs,
        killed: Boolean(r.killed?.killed),
        lost: t.lost,
        duplicated: t.duplicated,
        wrongState: t.wrongState,
        problems: t.problems,
      })
      ctx.log(
        `consent import trial ${trial}: kill at ${delayMs} ms${r.killed?.killed ? '' : ' (finished first)'} -> ${t.clean ? 'ok' : t.problems.join('; ')}`,
      )
    }
    return summarise(
      'consent import',
      `${clean.lines.length} Consent lines, ${cleanResult.consents} on-chain consents, batches of ${options.batch}`,
      clean.done.ms,
      trials,
    )
  } finally {
    provider.destroy()
    await medctl(['node', 'stop'], home)
  }
}
