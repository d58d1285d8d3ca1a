/**
 * Issue 12, "Done when": four organisations, each in a MEDCTL_HOME of its own, on one anvil chain —
 * the hospital (custodian), a clinic, a research lab and an auditor. They share the chain, the
 * network descriptor, files (CAR) and, for the clinic, an IPFS network of two real js-ipfs nodes
 * (the hospital's and the clinic's); nothing else.
 */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {classOf, type FhirResource} from '../src/lib/fhir/index.js'
import {openCarFile} from '../src/lib/ipfs/index.js'
import {startIpfsNet, type IpfsNet} from './helpers/ipfs-net.js'
import {killHomeNode, parseEnvelope, repoRoot, runBin, runJson, TEST_PASSPHRASE} from './helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'
const RESEARCH_CLASSES = 'demographics,conditions,labs'

type Party = 'hospital' | 'clinic' | 'lab' | 'auditor'

interface ExportVerified {
  ok: boolean
  code?: string
  firstBadFile?: string
  dir: string
  signer: string | null
  files: Array<{path: string; status: string}>
  delivery?: {kind: string; packageCid: string; files: number; out: string | null}
  checkedAgainst: {registry: string; custodian: string | null}
}

describe('four homes on one chain: hospital, clinic, lab, auditor', () => {
  const root = mkdtempSync(join(tmpdir(), 'medctl-four-homes-'))
  const homes: Record<Party, string> = {
    hospital: join(root, 'hospital'),
    clinic: join(root, 'clinic'),
    lab: join(root, 'lab'),
    auditor: join(root, 'auditor'),
  }
  /** What travels between them: the descriptor, registrations, CAR files. */
  const exchange = join(root, 'exchange')
  const address: Partial<Record<Party, string>> = {}
  let net: IpfsNet
  let clinicConsent: string
  let shareCar: string
  let ipfsPackageCid: string
  let labCar: string
  let exportedFiles: string[]

  /** Runs a command in-process in one party's home. */
  async function as<R = Record<string, unknown>>(party: Party, args: string[]) {
    process.env.MEDCTL_HOME = homes[party]
    return runJson<R>(args)
  }
  const env = (party: Party) => ({
    MEDCTL_HOME: homes[party],
    MEDCTL_PASSPHRASE: TEST_PASSPHRASE,
    MEDCTL_KDF_LOGN: '11',
    MEDCTL_NO_INPUT: '1',
    NO_COLOR: '1',
  })

  beforeAll(async () => {
    for (const dir of [...Object.values(homes), exchange]) mkdirSync(dir)
    Object.assign(process.env, env('hospital'))
    const [started] = await Promise.all([
      startIpfsNet(2),
      (async () => {
        const init = await as('hospital', ['init'])
        expect(init.exitCode, JSON.stringify(init.envelope)).toBe(0)
      })(),
    ])
    net = started
    expect((await as('hospital', ['records', 'import', samples, '--no-anchor'])).exitCode).toBe(0)
    address.hospital = (await as<{address: string}>('hospital', ['profile', 'show'])).envelope.result.address
    const descriptor = join(exchange, 'network.json')
    expect((await as('hospital', ['network', 'export', '--out', descriptor, '--name', 'st-mary'])).exitCode).toBe(0)

    // Each member joins from the descriptor in its own home; the clinic names its own IPFS node.
    for (const party of ['clinic', 'lab', 'auditor'] as const) {
      const registration = join(exchange, `registration-${party}.json`)
      const extra = party === 'clinic' ? ['--kubo-url', net.nodes[1].url] : []
      const joined = await as<{address: string}>(party, [
        'init',
        '--join',
        descriptor,
        '--name',
        party,
        '--registration-out',
        registration,
        ...extra,
      ])
      expect(joined.exitCode, JSON.stringify(joined.envelope)).toBe(0)
      address[party] = joined.envelope.result.address
    }
    // The custodian relays the clinic's and the lab's registrations (the auditor receives nothing encrypted).
    for (const party of ['clinic', 'lab'] as const) {
      const admitted = await as('hospital', ['network', 'admit', join(exchange, `registration-${party}.json`)])
      expect(admitted.exitCode, JSON.stringify(admitted.envelope)).toBe(0)
    }
    const granted = await as<{consents: Array<{consentId: string}>}>('hospital', [
      'consent',
      'grant',
      '--patient',
      PATIENT,
      '--grantee',
      address.clinic as string,
      '--purpose',
      'TREAT',
      '--classes',
      'labs,conditions',
      '--until',
      '30d',
    ])
    expect(granted.exitCode, JSON.stringify(granted.envelope)).toBe(0)
    clinicConsent = granted.envelope.result.consents[0]?.consentId as string
    const research = await as('hospital', [
      'consent',
      'grant',
      '--patient',
      PATIENT,
      '--grantee',
      address.lab as string,
      '--purpose',
      'HRESCH',
      '--classes',
      RESEARCH_CLASSES,
      '--until',
      '365d',
    ])
    expect(research.exitCode, JSON.stringify(research.envelope)).toBe(0)
  }, 300_000)

  afterAll(async () => {
    await net?.stop()
    await killHomeNode(homes.hospital)
    rmSync(root, {recursive: true, force: true})
  })

  it('only the hospital holds a pseudonym key, a record index and a node; the members hold their own keys only', async () => {
    for (const party of ['clinic', 'lab', 'auditor'] as const) {
      const shown = await as<{role: string; address: string; pseudonymKey?: unknown; network: {custodian: string}}>(party, [
        'profile',
        'show',
      ])
      expect(shown.envelope.result.role).toBe('member')
      expect(shown.envelope.result.network.custodian.toLowerCase()).toBe(address.hospital?.toLowerCase())
      expect(existsSync(join(homes[party], 'data', 'node'))).toBe(false)
      const keys = await as<{identities: Array<{address: string; hasPseudonymKey: boolean}>}>(party, ['keys', 'list'])
      expect(keys.envelope.result.identities.map((i) => i.address)).toEqual([address[party]])
      expect(keys.envelope.result.identities.every((i) => !i.hasPseudonymKey)).toBe(true)
    }
  })

  it('the clinic fetches a CAR file in its own home: exactly the granted classes', async () => {
    shareCar = join(exchange, 'clinic-pkg.car')
    const shared = await as<{delivery: string; classes: string[]}>('hospital', [
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      address.clinic as string,
      '--purpose',
      'TREAT',
      '--out',
      shareCar,
    ])
    expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
    expect(shared.envelope.result.delivery).toBe('car')
    const out = join(homes.clinic, 'from-car.json')
    const fetched = await as<{source: string; classes: string[]; custodian: string}>('clinic', ['records', 'fetch', shareCar, '--out', out])
    expect(fetched.exitCode, JSON.stringify(fetched.envelope)).toBe(0)
    expect(fetched.envelope.result).toMatchObject({source: 'car', custodian: address.hospital})
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(new Set(bundle.entry.map((e) => classOf(e.resource)))).toEqual(new Set(['conditions', 'labs']))
  })

  it('a tampered CAR file is refused (exit 4, E_CAR_CORRUPT) and nothing is written', async () => {
    const bytes = readFileSync(shareCar)
    const bad = Buffer.from(bytes)
    bad[bytes.length - 5] = (bad[bytes.length - 5] as number) ^ 0x01
    const tampered = join(exchange, 'tampered.car')
    writeFileSync(tampered, bad)
    const out = join(homes.clinic, 'tampered.json')
    const r = await as('clinic', ['records', 'fetch', tampered, '--out', out])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.error.code).toBe('E_CAR_CORRUPT')
    expect(existsSync(out)).toBe(false)
  })

  it('through two IPFS nodes: the hospital shares into its node, the clinic fetches the CID through its own (bitswap)', async () => {
    const [hospitalNode, clinicNode] = net.nodes
    for (const [key, value] of [
      ['store.url', hospitalNode.url],
      ['store.type', 'kubo'],
    ] as const)
      expect((await as('hospital', ['profile', 'set', key, value])).exitCode).toBe(0)
    expect((await as('hospital', ['records', 'upload'])).exitCode).toBe(0)
    const shared = await as<{delivery: string; packageCid: string}>('hospital', [
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      address.clinic as string,
      '--purpose',
      'TREAT',
    ])
    expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
    expect(shared.envelope.result.delivery).toBe('kubo')
    ipfsPackageCid = shared.envelope.result.packageCid
    const clinicStore = (await as<{store: {type: string; url: string}}>('clinic', ['profile', 'show'])).envelope.result.store
    expect(clinicStore).toEqual({type: 'kubo', url: clinicNode.url})
    const out = join(homes.clinic, 'from-ipfs.json')
    const fetched = await as<{source: string; classes: string[]}>('clinic', ['records', 'fetch', ipfsPackageCid, '--out', out])
    expect(fetched.exitCode, JSON.stringify(fetched.envelope)).toBe(0)
    expect(fetched.envelope.result.source).toBe('kubo')
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(new Set(bundle.entry.map((e) => classOf(e.resource)))).toEqual(new Set(['conditions', 'labs']))
    // the clinic's node now holds the package, which only the hospital's node had
    const refs = (await (
      await fetch(`${clinicNode.url}/api/v0/block/stat?arg=${ipfsPackageCid}&offline=true`, {method: 'POST'})
    ).json()) as {Key?: string}
    expect(refs.Key).toBeTruthy()
    // back to CAR files for the hospital's other releases
    expect((await as('hospital', ['profile', 'set', 'store.type', 'embedded'])).exitCode).toBe(0)
  }, 120_000)

  it('the lab receives its research export as a CAR file, decrypts it with its own key, and export verify passes', async () => {
    labCar = join(exchange, 'study-42.car')
    // delivered only to the researcher the consents name: to anyone else it is refused before anything is written
    const astray = await as('hospital', [
      'export',
      'research',
      '--grantee',
      address.lab as string,
      '--classes',
      RESEARCH_CLASSES,
      '--k',
      '1',
      '--out',
      join(homes.hospital, 'astray'),
      '--deliver-to',
      address.clinic as string,
      '--deliver-out',
      join(exchange, 'astray.car'),
    ])
    expect(astray.exitCode).toBe(2)
    expect(astray.envelope.error.code).toBe('E_DELIVER_NOT_GRANTEE')
    expect(existsSync(join(homes.hospital, 'astray'))).toBe(false)
    expect(existsSync(join(exchange, 'astray.car'))).toBe(false)
    const exported = await as<{
      cohort: {included: number}
      files: Array<{path: string}>
      delivery: {to: string; delivery: string; files: number; packageCid: string}
    }>('hospital', [
      'export',
      'research',
      '--grantee',
      address.lab as string,
      '--classes',
      RESEARCH_CLASSES,
      '--k',
      '1',
      '--format',
      'csv',
      '--out',
      join(homes.hospital, 'study-42'),
      '--deliver-to',
      address.lab as string,
      '--deliver-out',
      labCar,
    ])
    expect(exported.exitCode, JSON.stringify(exported.envelope)).toBe(0)
    expect(exported.envelope.result.cohort.included).toBe(1)
    expect(exported.envelope.result.delivery).toMatchObject({
      to: address.lab,
      delivery: 'car',
      files: exported.envelope.result.files.length + 1,
    })
    exportedFiles = exported.envelope.result.files.map((f) => f.path)
    // ciphertext only: no CSV header, no manifest field in clear
    const bytes = readFileSync(labCar)
    expect(bytes.includes(Buffer.from('manifestVersion'))).toBe(false)
    expect(bytes.includes(Buffer.from('row_id'))).toBe(false)

    const out = join(homes.lab, 'study-42')
    const verified = await as<ExportVerified>('lab', ['export', 'verify', labCar, '--out', out])
    expect(verified.exitCode, JSON.stringify(verified.envelope)).toBe(0)
    expect(verified.envelope.result).toMatchObject({
      ok: true,
      signer: address.hospital,
      dir: out,
      delivery: {kind: 'car', packageCid: exported.envelope.result.delivery.packageCid, out},
    })
    expect(verified.envelope.result.checkedAgainst.custodian).toBe(address.hospital)
    expect(verified.envelope.result.files.length).toBeGreaterThan(1)
    expect(verified.envelope.result.files.every((f) => f.status === 'ok')).toBe(true)
    // the files the lab now holds are the hospital's, byte for byte
    for (const f of [...verified.envelope.result.files.map((x) => x.path), 'manifest.json']) {
      expect(readFileSync(join(out, f)).equals(readFileSync(join(homes.hospital, 'study-42', f))), f).toBe(true)
    }
    // and the directory checks again as it is
    expect((await as<ExportVerified>('lab', ['export', 'verify', out])).envelope.result.ok).toBe(true)
  })

  it("an altered file in the lab's copy: export verify exits 4 naming it; a tampered delivery leaves nothing behind", async () => {
    const out = join(homes.lab, 'study-42')
    const file = readdirSync(out)
      .filter((f) => f.endsWith('.csv'))
      .sort()[0] as string
    const text = readFileSync(join(out, file))
    text[text.length - 2] = (text[text.length - 2] as number) ^ 0x01
    writeFileSync(join(out, file), text)
    const r = await as<ExportVerified>('lab', ['export', 'verify', out])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({ok: false, code: 'E_FILE_ALTERED', firstBadFile: file})
    // the real process: exit 4, the file named on stdout
    const bin = runBin(['export', 'verify', out, '--json'], {env: env('lab')})
    expect(bin.status).toBe(4)
    expect(parseEnvelope<ExportVerified>(bin.stdout).result.firstBadFile).toBe(file)

    // A CAR block of one file flipped in transit: every block is still checked against its CID, and
    // the lab is told which file was hit (exit 4); nothing of the delivery is kept.
    const bytes = readFileSync(labCar)
    const car = await openCarFile(labCar)
    const listed = ['manifest.json', ...exportedFiles]
    const target = listed.length - 1 // the CAR holds the package, then each listed file in order
    let at: number
    let packageAt: number
    try {
      const blockAt = async (cid: string) => bytes.indexOf(Buffer.from((await car.getBlock(cid)) as Uint8Array))
      expect(car.cids()[0]).toBe(car.roots[0])
      packageAt = await blockAt(car.roots[0] as string)
      at = await blockAt(car.cids()[1 + target] as string)
    } finally {
      car.close()
    }
    expect(packageAt).toBeGreaterThan(0)
    expect(at).toBeGreaterThan(0)
    const bad = Buffer.from(bytes)
    bad[at + 40] = (bad[at + 40] as number) ^ 0x01
    const tampered = join(exchange, 'study-42-tampered.car')
    writeFileSync(tampered, bad)
    const second = join(homes.lab, 'study-42-again')
    const refused = await as<ExportVerified>('lab', ['export', 'verify', tampered, '--out', second])
    expect(refused.exitCode).toBe(4)
    expect(refused.envelope.result).toMatchObject({ok: false, code: 'E_FILE_ALTERED', firstBadFile: listed[target]})
    expect(existsSync(second)).toBe(false)
    // the package itself damaged: the whole file is refused
    const badPackage = Buffer.from(bytes)
    badPackage[packageAt + 40] = (badPackage[packageAt + 40] as number) ^ 0x01
    writeFileSync(tampered, badPackage)
    const refusedAll = await as('lab', ['export', 'verify', tampered, '--out', second])
    expect(refusedAll.exitCode).toBe(4)
    expect(refusedAll.envelope.error.code).toBe('E_CAR_CORRUPT')
    expect(existsSync(second)).toBe(false)
    expect(readdirSync(homes.lab).filter((f) => f.startsWith('.medctl-receive-'))).toEqual([])
  })

  it("the lab's delivery is sealed for the lab: the clinic cannot open it (exit 5)", async () => {
    const r = await as('clinic', ['export', 'verify', labCar])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.error.code).toBe('E_NOT_FOR_YOU')
  })

  it("each receipt is in the receiver's own audit log: the lab's kept (intent, then written) and damaged ones, the clinic's refusal", () => {
    const entries = (party: Party) =>
      readdirSync(join(homes[party], 'data', 'audit'))
        .filter((f) => f.startsWith('log-'))
        .flatMap((f) =>
          readFileSync(join(homes[party], 'data', 'audit', f), 'utf8')
            .split('\n')
            .filter(Boolean),
        )
        .map((line) => JSON.parse(line) as {type: string; outcome: string; reason?: string; purpose?: string; detail?: {phase?: string}})
        .filter((e) => e.type === 'fetch' && e.purpose === 'HRESCH')
    const lab = entries('lab').map((e) => `${e.outcome}:${e.reason}${e.detail?.phase ? `:${e.detail.phase}` : ''}`)
    expect(lab.slice(0, 2)).toEqual(['success:verified:intent', 'success:verified:written'])
    expect(lab).toContain('failure:E_FILE_ALTERED')
    expect(lab).toContain('failure:E_CAR_CORRUPT')
    expect(entries('clinic').map((e) => `${e.outcome}:${e.reason}`)).toEqual(['denied:E_NOT_FOR_YOU'])
  })

  it('after the revoke, the clinic is refused (exit 5) by CAR and by CID, and nothing is written', async () => {
    expect((await as('hospital', ['consent', 'revoke', clinicConsent])).exitCode).toBe(0)
    const out = join(homes.clinic, 'late.json')
    for (const ref of [shareCar, ipfsPackageCid]) {
      const r = await as('clinic', ['records', 'fetch', ref, '--out', out])
      expect(r.exitCode, ref).toBe(5)
      expect(r.envelope.error).toMatchObject({code: 'E_ACCESS_DENIED', details: {reason: 'Revoked'}})
      expect(existsSync(out)).toBe(false)
    }
  }, 60_000)

  it("the auditor verifies the published log in its own home and gets the hospital's root; the lab's delivery is in it", async () => {
    expect((await as('hospital', ['audit', 'anchor'])).exitCode).toBe(0)
    const own = await as<{ok: boolean; root: string; entries: number}>('hospital', ['audit', 'verify'])
    expect(own.envelope.result.ok).toBe(true)
    const logCar = join(exchange, 'log.car')
    expect((await as('hospital', ['audit', 'publish', '--out', logCar])).exitCode).toBe(0)
    const r = await as<{ok: boolean; root: string; entries: number; checkedAgainst: {custodian: string[] | null}}>('auditor', [
      'audit',
      'verify',
      '--log',
      logCar,
    ])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result).toMatchObject({ok: true, root: own.envelope.result.root, entries: own.envelope.result.entries})
    expect(r.envelope.result.checkedAgainst.custodian?.map((a) => a.toLowerCase())).toEqual([address.hospital?.toLowerCase()])
    // the release to the lab is audited like any other key release (HRESCH, to the lab's address)
    const log = readdirSync(join(homes.hospital, 'data', 'audit'))
      .filter((f) => f.startsWith('log-'))
      .flatMap((f) =>
        readFileSync(join(homes.hospital, 'data', 'audit', f), 'utf8')
          .split('\n')
          .filter(Boolean),
      )
      .map((line) => JSON.parse(line) as {type: string; outcome: string; reason?: string; purpose?: string; detail?: {grantee?: string}})
    expect(
      log.some((e) => e.type === 'key-release' && e.outcome === 'success' && e.purpose === 'HRESCH' && e.detail?.grantee === address.lab),
    ).toBe(true)
    // and the refused delivery to the clinic is there too, as a failed export
    expect(log.some((e) => e.type === 'export' && e.outcome === 'failure' && e.reason === 'E_DELIVER_NOT_GRANTEE')).toBe(true)
  })
})
