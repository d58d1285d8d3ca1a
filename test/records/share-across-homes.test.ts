import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {createServer, type AddressInfo} from 'node:net'
import {join} from 'node:path'
import {JsonRpcProvider} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {Keystore} from '../../src/lib/config/keystore.js'
import {
  lookupRecipient,
  recipientNonce,
  registryContract,
  relayRecipientRegistration,
  signRecipientRegistration,
} from '../../src/lib/chain/registry.js'
import {classOf, type FhirResource} from '../../src/lib/fhir/index.js'
import {openCarFile} from '../../src/lib/ipfs/index.js'
import {parseEnvelope, repoRoot, runBin, runJson, TEST_PASSPHRASE, useTempHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

/** Makes `home` the MEDCTL_HOME of the in-process commands that follow. */
function enter(home: TestHome): void {
  Object.assign(process.env, home.env)
}

interface ShareResult {
  packageCid: string
  classes: string[]
  objects: number
  delivery: string
  car: {out: string; blocks: number; bytes: number}
}

describe('sharing across homes: the hospital writes a CAR file, the clinic fetches it in its own home', () => {
  let hospital: TestHome
  let clinic: TestHome
  let clinicAddress: string
  let consentId: string
  let car: string
  beforeAll(async () => {
    hospital = useTempHome()
    const init = await runJson<{rpcUrl: string; chainId: number}>(['init'])
    expect(init.exitCode, JSON.stringify(init.envelope)).toBe(0)
    expect((await runJson(['records', 'import', samples])).exitCode).toBe(0)
    const shown = await runJson<{chain: {registry: string}}>(['profile', 'show'])
    const registry = shown.envelope.result.chain.registry
    const {rpcUrl, chainId} = init.envelope.result

    // The clinic: a home of its own, holding only its own profile, on the hospital's chain.
    clinic = useTempHome()
    const created = await runJson<{address: string; recipient: string}>([
      'profile',
      'create',
      'clinic',
      '--use',
      '--rpc-url',
      rpcUrl,
      '--chain-id',
      String(chainId),
      '--registry',
      registry,
    ])
    expect(created.exitCode, JSON.stringify(created.envelope)).toBe(0)
    clinicAddress = created.envelope.result.address
    expect(existsSync(join(clinic.home, 'data', 'node'))).toBe(false)

    // Its age recipient reaches the key directory without the clinic holding funds: it signs the
    // binding, the hospital (custodian) relays it.
    const provider = new JsonRpcProvider(rpcUrl, chainId, {staticNetwork: true})
    try {
      const member = (await new Keystore(resolvePaths({env: clinic.env})).unlock('clinic', TEST_PASSPHRASE)).wallet
      expect(await provider.getBalance(clinicAddress)).toBe(0n)
      const custodian = (await new Keystore(resolvePaths({env: hospital.env})).unlock('local', TEST_PASSPHRASE)).wallet.connect(provider)
      const reader = registryContract(registry, provider)
      const now = (await provider.getBlock('latest'))?.timestamp ?? 0
      const registration = await signRecipientRegistration(member, {
        chainId,
        registry,
        recipient: created.envelope.result.recipient,
        nonce: await recipientNonce(reader, clinicAddress),
        deadline: now + 3600,
      })
      await relayRecipientRegistration(registryContract(registry, custodian), registration)
      expect(await lookupRecipient(reader, clinicAddress)).toBe(created.envelope.result.recipient)
    } finally {
      provider.destroy()
    }

    enter(hospital)
    const granted = await runJson<{consents: Array<{consentId: string}>}>([
      'consent',
      'grant',
      '--patient',
      PATIENT,
      '--grantee',
      clinicAddress,
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
  afterAll(async () => {
    await clinic?.cleanup()
    await hospital?.cleanup()
  })

  it('share --out writes the package and every object it names as a CARv1 file rooted at the package', async () => {
    enter(hospital)
    car = join(hospital.home, 'exchange', 'pkg.car')
    mkdirSync(join(hospital.home, 'exchange'))
    const shared = await runJson<ShareResult>([
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      clinicAddress,
      '--purpose',
      'TREAT',
      '--out',
      car,
    ])
    expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
    expect(shared.envelope.result.delivery).toBe('car')
    expect(shared.envelope.result.classes.sort()).toEqual(['conditions', 'labs'])
    const opened = await openCarFile(car)
    try {
      expect(opened.roots).toEqual([shared.envelope.result.packageCid])
      expect(opened.size).toBe(shared.envelope.result.car.blocks)
      expect(opened.size).toBeGreaterThan(shared.envelope.result.objects)
    } finally {
      opened.close()
    }
    // ciphertext only: no identifier of the patient in the file
    const bytes = readFileSync(car)
    expect(bytes.includes(Buffer.from('d88f994a-5efa-421d-9c40-5f116d2114a6'))).toBe(false)
    expect(bytes.includes(Buffer.from('"resourceType"'))).toBe(false)
  })

  it('the clinic, in its own home, fetches exactly the granted classes from the CAR file', async () => {
    enter(clinic)
    const out = join(clinic.home, 'received.json')
    const fetched = await runJson<{resources: number; classes: string[]; source: string; custodian: string}>([
      'records',
      'fetch',
      car,
      '--out',
      out,
    ])
    expect(fetched.exitCode, JSON.stringify(fetched.envelope)).toBe(0)
    expect(fetched.envelope.result.source).toBe('car')
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(bundle.entry.length).toBe(fetched.envelope.result.resources)
    expect(bundle.entry.length).toBeGreaterThan(0)
    expect(new Set(bundle.entry.map((e) => classOf(e.resource)))).toEqual(new Set(['conditions', 'labs']))
    // the fetch is in the clinic's own audit log, intent before the file and outcome after
    const log = readdirSync(join(clinic.home, 'data', 'audit'))
      .filter((f) => f.startsWith('log-'))
      .map((f) => readFileSync(join(clinic.home, 'data', 'audit', f), 'utf8'))
      .join('')
    const phases = log
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as {type: string; outcome: string; detail?: {phase?: string}})
      .filter((e) => e.type === 'fetch')
      .map((e) => `${e.outcome}:${e.detail?.phase}`)
    expect(phases).toEqual(['success:intent', 'success:written'])
  })

  it("by CID, the clinic looks in its own store, which does not hold the hospital's embedded blocks", async () => {
    enter(clinic)
    const opened = await openCarFile(car)
    const cid = opened.roots[0] as string
    opened.close()
    const r = await runJson(['records', 'fetch', cid, '--out', join(clinic.home, 'by-cid.json')])
    expect(r.envelope.error).toMatchObject({code: 'E_CID_NOT_FOUND', exitCode: 2})
    expect(existsSync(join(clinic.home, 'by-cid.json'))).toBe(false)
  })

  it('a CAR file with one flipped byte is refused (E_CAR_CORRUPT, exit 4) and nothing is written', async () => {
    enter(clinic)
    const bytes = readFileSync(car)
    for (const position of [Math.floor(bytes.length / 2), bytes.length - 1, 30]) {
      const bad = Buffer.from(bytes)
      bad[position] = (bad[position] as number) ^ 0x01
      const tampered = join(clinic.home, `tampered-${position}.car`)
      writeFileSync(tampered, bad)
      const out = join(clinic.home, `tampered-${position}.json`)
      const r = await runJson(['records', 'fetch', tampered, '--out', out])
      expect(r.exitCode).toBe(4)
      expect(r.envelope.error.code).toBe('E_CAR_CORRUPT')
      expect(existsSync(out)).toBe(false)
    }
    // the real process: exit 4, the envelope on stdout, no stack trace
    const tampered = join(clinic.home, `tampered-30.car`)
    const bin = runBin(['records', 'fetch', tampered, '--out', join(clinic.home, 'bin.json'), '--json'], {env: clinic.env})
    expect(bin.status).toBe(4)
    expect(parseEnvelope(bin.stdout).error.code).toBe('E_CAR_CORRUPT')
    expect(bin.stderr).not.toMatch(/\n\s+at /)
    expect(existsSync(join(clinic.home, 'bin.json'))).toBe(false)
  })

  it('after the consent is revoked the same CAR file is refused with exit 5 and nothing is written', async () => {
    enter(hospital)
    expect((await runJson(['consent', 'revoke', consentId])).exitCode).toBe(0)
    enter(clinic)
    const out = join(clinic.home, 'late.json')
    const r = await runJson(['records', 'fetch', car, '--out', out])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.error).toMatchObject({code: 'E_ACCESS_DENIED', details: {reason: 'Revoked'}})
    expect(existsSync(out)).toBe(false)
  })

  it('a Kubo node that is down fails the fetch at once with E_STORE_UNAVAILABLE', async () => {
    // Fetching by CID through real IPFS nodes, and the refusal after a revoke that way, are in
    // test/four-homes.test.ts; here the clinic's node is simply not there (nothing listens on its port).
    enter(clinic)
    const port = await new Promise<number>((resolvePort) => {
      const server = createServer()
      server.listen(0, '127.0.0.1', () => {
        const {port: free} = server.address() as AddressInfo
        server.close(() => resolvePort(free))
      })
    })
    for (const [key, value] of [
      ['store.url', `http://127.0.0.1:${port}`],
      ['store.type', 'kubo'],
    ])
      expect((await runJson(['profile', 'set', key as string, value as string])).exitCode).toBe(0)
    const opened = await openCarFile(car)
    const packageCid = opened.roots[0] as string
    opened.close()
    const started = Date.now()
    const r = await runJson(['records', 'fetch', packageCid, '--out', join(clinic.home, 'down.json')])
    expect(r.envelope.error).toMatchObject({code: 'E_STORE_UNAVAILABLE', exitCode: 1})
    expect(Date.now() - started).toBeLessThan(5000)
  })
})

describe('records fetch and share --out: bad references and output paths are usage errors (exit 2), before anything is done', () => {
  let home: TestHome
  beforeAll(() => {
    home = useTempHome()
  })
  afterAll(async () => home.cleanup())

  it('neither an existing file nor a CID; an --out whose folder does not exist', async () => {
    expect((await runJson(['init'])).exitCode).toBe(0)
    const ref = await runJson(['records', 'fetch', join(home.home, 'no-such.car'), '--out', join(home.home, 'x.json')])
    expect(ref.envelope.error).toMatchObject({code: 'E_BAD_PACKAGE_REF', exitCode: 2})
    const out = await runJson([
      'records',
      'fetch',
      'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e',
      '--out',
      join(home.home, 'missing', 'x.json'),
    ])
    expect(out.envelope.error).toMatchObject({code: 'E_BAD_OUT', exitCode: 2})
    const share = await runJson([
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      'local',
      '--purpose',
      'TREAT',
      '--out',
      join(home.home, 'missing', 'p.car'),
    ])
    expect(share.envelope.error).toMatchObject({code: 'E_BAD_OUT', exitCode: 2})
  }, 120_000)
})
