import {cpSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {Wallet} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {Keystore} from '../../src/lib/config/keystore.js'
import {manifestToJson, signManifest, type Manifest} from '../../src/lib/export/manifest.js'
import {parseEnvelope, repoRoot, runBin, runJson, TEST_PASSPHRASE, useTempHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENTS = ['http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6']

interface VerifyResult {
  ok: boolean
  code?: string
  problem?: string
  firstBadFile?: string
  signer: string | null
  files: Array<{path: string; status: string}>
  unlisted: string[]
  manifest: {chainId: string; contract: string; claimedSigner: string | null}
  checkedAgainst: {chainId: number; registry: string; block: number; custodian: string | null; custodianFrom: string}
}

function enter(home: TestHome): void {
  Object.assign(process.env, home.env)
}

describe('export verify: the lab, in its own home, checks a research export against its own registry', () => {
  let hospital: TestHome
  let lab: TestHome
  let custodian: Wallet
  let custodianAddress: string
  let registry: string
  let rpcUrl: string
  let exportDir: string
  let copies = 0

  /** A copy of the export in the lab's home, changed by `change`. */
  function variant(change: (dir: string) => void | Promise<void>): Promise<string> | string {
    const dir = join(lab.home, `received-${++copies}`)
    cpSync(exportDir, dir, {recursive: true})
    const done = change(dir)
    return done instanceof Promise ? done.then(() => dir) : dir
  }
  const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest
  const writeManifest = (dir: string, m: Manifest) => writeFileSync(join(dir, 'manifest.json'), manifestToJson(m))

  beforeAll(async () => {
    hospital = useTempHome()
    const init = await runJson<{rpcUrl: string; address: string}>(['init'])
    expect(init.exitCode, JSON.stringify(init.envelope)).toBe(0)
    custodianAddress = init.envelope.result.address
    rpcUrl = init.envelope.result.rpcUrl
    expect((await runJson(['records', 'import', samples, '--no-anchor'])).exitCode).toBe(0)
    const descriptor = join(hospital.home, 'network.json')
    expect((await runJson(['network', 'export', '--out', descriptor, '--name', 'st-mary'])).exitCode).toBe(0)
    registry = (JSON.parse(readFileSync(descriptor, 'utf8')) as {registry: string}).registry

    // The lab: a home of its own, joined from the descriptor; it holds no custodian key.
    lab = useTempHome()
    const joined = await runJson<{address: string}>(['init', '--join', descriptor, '--name', 'lab'])
    expect(joined.exitCode, JSON.stringify(joined.envelope)).toBe(0)
    const labAddress = joined.envelope.result.address

    enter(hospital)
    for (const patient of PATIENTS) {
      const g = await runJson([
        'consent',
        'grant',
        '--patient',
        patient,
        '--grantee',
        labAddress,
        '--purpose',
        'HRESCH',
        '--classes',
        'demographics,conditions,labs',
        '--until',
        '365d',
      ])
      expect(g.exitCode, JSON.stringify(g.envelope)).toBe(0)
    }
    exportDir = join(hospital.home, 'study-42')
    const exported = await runJson([
      'export',
      'research',
      '--grantee',
      labAddress,
      '--classes',
      'demographics,conditions,labs',
      '--k',
      '1',
      '--format',
      'csv',
      '--out',
      exportDir,
    ])
    expect(exported.exitCode, JSON.stringify(exported.envelope)).toBe(0)
    custodian = (await new Keystore(resolvePaths({env: hospital.env})).unlock('local', TEST_PASSPHRASE)).wallet as Wallet
    expect(custodian.address).toBe(custodianAddress)
  }, 300_000)
  afterAll(async () => {
    await lab?.cleanup()
    await hospital?.cleanup()
  })

  it("a real export verifies in the lab's home: signer recovered, checked against its own registry's custodian()", async () => {
    enter(lab)
    const received = await variant(() => undefined)
    const r = await runJson<VerifyResult>(['export', 'verify', received])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    const result = r.envelope.result
    expect(result.ok).toBe(true)
    expect(result.signer).toBe(custodianAddress)
    expect(result.checkedAgainst).toMatchObject({
      registry: registry,
      custodian: custodianAddress,
      custodianFrom: 'registry custodian()',
      chainId: 31337,
    })
    const csvs = readdirSync(received).filter((f) => f.endsWith('.csv'))
    expect(csvs.length).toBeGreaterThan(1)
    expect(result.files.map((f) => f.path)).toEqual(expect.arrayContaining(csvs))
    expect(result.files.every((f) => f.status === 'ok')).toBe(true)
    expect(result.unlisted).toEqual([])
  })

  it('one altered byte in one CSV: exit 4, E_FILE_ALTERED naming that file', async () => {
    enter(lab)
    const target = 'conditions.csv'
    const dir = await variant((d) => {
      const bytes = readFileSync(join(d, target))
      bytes[bytes.length - 2] ^= 0x01
      writeFileSync(join(d, target), bytes)
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.status).toBe('failed')
    expect(r.envelope.result).toMatchObject({ok: false, code: 'E_FILE_ALTERED', firstBadFile: target})
    expect(r.envelope.result.files.filter((f) => f.status !== 'ok')).toEqual([{path: target, status: 'altered'}])
  })

  it('a deleted file: exit 4, E_FILE_MISSING naming it; an added file is reported as unlisted', async () => {
    enter(lab)
    const dir = await variant((d) => {
      unlinkSync(join(d, 'patients.csv'))
      writeFileSync(join(d, 'extra.csv'), 'id\n1\n')
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({code: 'E_FILE_MISSING', firstBadFile: 'patients.csv', unlisted: ['extra.csv']})
  })

  it('a manifest re-signed by another key (with matching file hashes and signer field): exit 4, E_MANIFEST_SIGNER', async () => {
    enter(lab)
    const forger = Wallet.createRandom()
    const dir = await variant(async (d) => {
      const bytes = readFileSync(join(d, 'conditions.csv'))
      bytes[bytes.length - 2] ^= 0x01
      writeFileSync(join(d, 'conditions.csv'), bytes)
      const m = readManifest(d)
      const {createHash} = await import('node:crypto')
      const files = m.files.map((f) => (f.path === 'conditions.csv' ? {...f, sha256: createHash('sha256').update(bytes).digest('hex')} : f))
      // The forger even claims to be the custodian: the claim is ignored, the signature decides.
      const {signature: _s, ...unsigned} = m
      writeManifest(d, await signManifest({...unsigned, files, exporter: custodianAddress}, (b) => forger.signMessage(b), custodianAddress))
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({
      code: 'E_MANIFEST_SIGNER',
      signer: forger.address,
      manifest: {claimedSigner: custodianAddress},
    })
    expect(r.envelope.result.files).toEqual([])
  })

  it('a manifest claiming another registry, even signed by the real custodian: exit 4, E_MANIFEST_REGISTRY', async () => {
    enter(lab)
    const other = Wallet.createRandom().address
    const dir = await variant(async (d) => {
      const {signature: _s, ...unsigned} = readManifest(d)
      writeManifest(d, await signManifest({...unsigned, contract: other}, (b) => custodian.signMessage(b)))
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({code: 'E_MANIFEST_REGISTRY', manifest: {contract: other}, checkedAgainst: {registry}})
  })

  it('a manifest edited after signing (counts changed, signature kept): exit 4, E_MANIFEST_SIGNER', async () => {
    enter(lab)
    const dir = await variant((d) => {
      const m = readManifest(d)
      writeManifest(d, {...m, cohort: {...m.cohort, included: m.cohort.included + 100}})
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.code).toBe('E_MANIFEST_SIGNER')
    expect(r.envelope.result.signer).not.toBe(custodianAddress)
  })

  it('a listed path that leaves the directory is refused before any file is read (E_MANIFEST_PATH)', async () => {
    enter(lab)
    const dir = await variant(async (d) => {
      const {signature: _s, ...unsigned} = readManifest(d)
      writeManifest(
        d,
        await signManifest({...unsigned, files: [...unsigned.files, {path: '../../etc/passwd', sha256: '0'.repeat(64), rows: 0}]}, (b) =>
          custodian.signMessage(b),
        ),
      )
    })
    const r = await runJson<VerifyResult>(['export', 'verify', dir])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.code).toBe('E_MANIFEST_PATH')
  })

  it('as a subprocess with no profile at all (--rpc-url, --registry): exit 0 then 4, data on stdout only', async () => {
    const empty = useTempHome()
    try {
      const good = await variant(() => undefined)
      const ok = runBin(['export', 'verify', good, '--rpc-url', rpcUrl, '--registry', registry, '--json'], {env: empty.env})
      expect(ok.status, ok.stderr).toBe(0)
      expect(parseEnvelope<VerifyResult>(ok.stdout).result.checkedAgainst.custodian).toBe(custodianAddress)
      const bad = await variant((d) => writeFileSync(join(d, 'observations.csv'), 'changed\n', {flag: 'a'}))
      const failed = runBin(['export', 'verify', bad, '--rpc-url', rpcUrl, '--registry', registry])
      expect(failed.status).toBe(4)
      expect(failed.stdout).toMatch(/E_FILE_ALTERED/)
      expect(failed.stdout).toMatch(/observations\.csv/)
      const noRoots = runBin(['export', 'verify', good, '--json'], {env: empty.env})
      expect(noRoots.status).toBe(2)
      expect(parseEnvelope(noRoots.stdout).error.code).toBe('E_NO_PROFILE')
    } finally {
      rmSync(empty.home, {recursive: true, force: true})
      enter(lab)
    }
  })
})
