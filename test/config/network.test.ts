import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {generateX25519Identity, identityToRecipient} from 'age-encryption'
import {JsonRpcProvider, Wallet, getAddress} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import NetworkAdmit from '../../src/commands/network/admit.js'
import NetworkExport from '../../src/commands/network/export.js'
import Init from '../../src/commands/init.js'
import {writesHome} from '../../src/lib/cli/base-command.js'
import {lookupRecipient, registryContract} from '../../src/lib/chain/registry.js'
import {parseEnvelope, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

interface Descriptor {
  format: string
  name?: string
  chainId: number
  rpcUrl: string
  registry: string
  deployedBlock: number
  custodian: string
  store: unknown
}
interface Joined {
  profile: string
  role: string
  address: string
  recipient: string
  balanceWei: string
  network: {chainId: number; registry: string; custodian: string}
  registration: {status: string; via?: string; file?: string}
  alreadyJoined: boolean
}

/**
 * Two homes on one chain, as two organisations would be: the hospital (custodian, embedded
 * chain) and a clinic that joins with the descriptor and never holds funds.
 */
describe('joining a network: network export, init --join, network admit', () => {
  let hospital: TestHome
  let clinic: TestHome
  let custodian: {address: string; registry: string}
  let descriptor: Descriptor
  let networkFile: string
  let provider: JsonRpcProvider

  /** runJson in a given home: in-process commands read MEDCTL_HOME from process.env. */
  const inHome = async <R = Record<string, unknown>>(home: TestHome, args: string[]) => {
    process.env.MEDCTL_HOME = home.home
    return runJson<R>(args)
  }
  const writeVariant = (name: string, change: Partial<Descriptor>): string => {
    const file = join(clinic.home, name)
    writeFileSync(file, JSON.stringify({...descriptor, ...change}))
    return file
  }

  beforeAll(async () => {
    hospital = useTempHome()
    clinic = useTempHome()
    const init = await inHome<{address: string}>(hospital, ['init'])
    expect(init.exitCode).toBe(0)
    const shown = await inHome<{address: string; chain: {registry: string}}>(hospital, ['profile', 'show'])
    custodian = {address: shown.envelope.result.address, registry: shown.envelope.result.chain.registry}
    networkFile = join(hospital.home, 'network.json')
  }, 180_000)

  afterAll(async () => {
    provider?.destroy()
    await clinic?.cleanup()
    await hospital?.cleanup()
  })

  it('network export is read-only for the home; init --join and network admit take the writer lock', () => {
    expect(writesHome(NetworkExport)).toBe(false)
    expect(writesHome(Object.assign(NetworkAdmit, {id: 'network:admit'}))).toBe(true)
    expect(writesHome(Object.assign(Init, {id: 'init'}))).toBe(true)
  })

  it('the custodian exports a descriptor read from the chain, with nothing secret in it', async () => {
    const r = await inHome<{descriptor: Descriptor; file: string}>(hospital, [
      'network',
      'export',
      '--out',
      networkFile,
      '--name',
      'test-net',
    ])
    expect(r.exitCode).toBe(0)
    descriptor = JSON.parse(readFileSync(networkFile, 'utf8')) as Descriptor
    expect(descriptor).toEqual(r.envelope.result.descriptor)
    expect(descriptor).toMatchObject({
      format: 'medctl.network.v1',
      name: 'test-net',
      chainId: 31337,
      registry: getAddress(custodian.registry),
      custodian: getAddress(custodian.address),
      store: null,
    })
    expect(descriptor.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(descriptor.deployedBlock).toBeGreaterThan(0)
    // a loopback RPC URL is only good on this machine: said as a warning
    expect(r.envelope.warnings.join(' ')).toMatch(/this machine only/)
    expect(Object.keys(descriptor).sort()).toEqual([
      'chainId',
      'createdAt',
      'custodian',
      'deployedBlock',
      'format',
      'name',
      'registry',
      'rpcUrl',
      'store',
    ])
    provider = new JsonRpcProvider(descriptor.rpcUrl, 31337, {staticNetwork: true, cacheTimeout: -1})
    expect(Number(await registryContract(descriptor.registry, provider).deployedBlock())).toBe(descriptor.deployedBlock)
  })

  it('a descriptor the chain disagrees with is refused with a stable code, and nothing is created', async () => {
    const other = Wallet.createRandom().address
    const cases: Array<[string, Partial<Descriptor>, string]> = [
      ['wrong-registry.json', {registry: other}, 'registry'],
      ['wrong-custodian.json', {custodian: other}, 'custodian'],
      ['wrong-chain.json', {chainId: 31338}, 'chainId'],
      ['wrong-block.json', {deployedBlock: descriptor.deployedBlock + 1}, 'deployedBlock'],
    ]
    for (const [name, change, field] of cases) {
      const r = await inHome(clinic, ['init', '--join', writeVariant(name, change)])
      expect(r.exitCode, name).toBe(4)
      expect(r.envelope.error, name).toMatchObject({code: 'E_NETWORK_MISMATCH', exitCode: 4, details: {field}})
    }
    const expected = await inHome(clinic, ['init', '--join', networkFile, '--expect-custodian', other])
    expect(expected.envelope.error).toMatchObject({code: 'E_NETWORK_MISMATCH', details: {field: 'custodian'}})
    const malformed = await inHome(clinic, ['init', '--join', writeVariant('bad-format.json', {format: 'something-else'})])
    expect(malformed.exitCode).toBe(2)
    expect(malformed.envelope.error.code).toBe('E_BAD_NETWORK_FILE')
    expect((await inHome<{profiles: unknown[]}>(clinic, ['profile', 'list'])).envelope.result.profiles).toEqual([])
    // the real exit code and the stdout/stderr split, once, through bin/run.js
    const bin = runBin(['init', '--join', join(clinic.home, 'wrong-custodian.json'), '--json'], {env: clinic.env})
    expect(bin.status).toBe(4)
    expect(parseEnvelope(bin.stdout).error.code).toBe('E_NETWORK_MISMATCH')
  })

  it('a member joins without funds: a signed registration the custodian relays; its recipient is then in the key directory', async () => {
    const regFile = join(clinic.home, 'clinic-registration.json')
    const joined = await inHome<Joined>(clinic, ['init', '--join', networkFile, '--name', 'clinic', '--registration-out', regFile])
    expect(joined.exitCode).toBe(0)
    const member = joined.envelope.result
    expect(member).toMatchObject({
      profile: 'clinic',
      role: 'member',
      balanceWei: '0',
      alreadyJoined: false,
      registration: {status: 'pending', file: regFile},
    })
    expect(member.network).toMatchObject({chainId: 31337, registry: descriptor.registry, custodian: descriptor.custodian})
    // no embedded node in the member's home, and no funds on the chain
    expect(existsSync(join(clinic.home, 'data', 'node', 'node.json'))).toBe(false)
    expect(await provider.getBalance(member.address)).toBe(0n)
    const registry = registryContract(descriptor.registry, provider)
    expect(await lookupRecipient(registry, member.address)).toBeUndefined()

    // a registration altered on the way is refused (the signature is the member's over other data)
    const reg = JSON.parse(readFileSync(regFile, 'utf8')) as Record<string, unknown>
    const forged = join(hospital.home, 'forged.json')
    writeFileSync(forged, JSON.stringify({...reg, recipient: await identityToRecipient(await generateX25519Identity())}))
    const refused = await inHome(hospital, ['network', 'admit', forged])
    expect(refused.exitCode).toBe(4)
    expect(refused.envelope.error.code).toBe('E_BAD_REGISTRATION')
    // a registration for another registry is refused against the custodian's own profile, not the file
    const elsewhere = join(hospital.home, 'elsewhere.json')
    writeFileSync(elsewhere, JSON.stringify({...reg, registry: Wallet.createRandom().address}))
    expect((await inHome(hospital, ['network', 'admit', elsewhere])).envelope.error).toMatchObject({
      code: 'E_NETWORK_MISMATCH',
      exitCode: 4,
    })

    const admitted = await inHome<{status: string; account: string; txHash: string}>(hospital, ['network', 'admit', regFile])
    expect(admitted.exitCode).toBe(0)
    expect(admitted.envelope.result).toMatchObject({status: 'admitted', account: getAddress(member.address)})
    expect(await lookupRecipient(registry, member.address)).toBe(member.recipient)
    expect(await provider.getBalance(member.address)).toBe(0n)
    // audited in the custodian's log
    const audit = await inHome<{entries: Array<{type: string; detail?: Record<string, unknown>}>}>(hospital, ['audit', 'show'])
    expect(audit.envelope.result.entries.filter((e) => e.detail?.event === 'network-admit')).toEqual([
      expect.objectContaining({
        type: 'controller',
        detail: expect.objectContaining({account: getAddress(member.address), txHash: admitted.envelope.result.txHash}),
      }),
    ])
    // idempotent: the same registration again is a no-op
    const again = await inHome<{status: string}>(hospital, ['network', 'admit', regFile])
    expect(again.exitCode).toBe(0)
    expect(again.envelope.result.status).toBe('already-registered')
    // joining again reports the profile, already registered
    const rejoin = await inHome<Joined>(clinic, ['init', '--join', networkFile, '--name', 'clinic'])
    expect(rejoin.envelope.result).toMatchObject({alreadyJoined: true, registration: {status: 'registered', via: 'already'}})
  })

  it('profile show in the joined home names the network; the member reads consents from the chain', async () => {
    const shown = await inHome<{
      role: string
      chain: {embedded: boolean; rpcUrl: string; registry: string}
      network: Record<string, unknown>
    }>(clinic, ['profile', 'show'])
    expect(shown.exitCode).toBe(0)
    expect(shown.envelope.result).toMatchObject({
      role: 'member',
      chain: {embedded: false, rpcUrl: descriptor.rpcUrl, registry: descriptor.registry},
      network: {name: 'test-net', chainId: 31337, registry: descriptor.registry, custodian: descriptor.custodian},
    })
    const keys = await inHome<{hasPseudonymKey: boolean}>(clinic, ['keys', 'show'])
    expect(keys.envelope.result.hasPseudonymKey).toBe(false)
    const list = await inHome<{consents: unknown[]}>(clinic, ['consent', 'list', '--grantee', 'clinic'])
    expect(list.exitCode).toBe(0)
    expect(list.envelope.result.consents).toEqual([])
  })

  it("on the development chain only, --dev-fund funds the member from anvil's accounts and publishes directly", async () => {
    const lab = useTempHome()
    try {
      const refused = await inHome(lab, ['init', '--join', writeVariant('mainnet.json', {chainId: 1}), '--dev-fund'])
      expect(refused.envelope.error).toMatchObject({code: 'E_DEV_FUND_REFUSED', exitCode: 2})
      const joined = await inHome<Joined>(lab, ['init', '--join', networkFile, '--name', 'lab', '--dev-fund'])
      expect(joined.exitCode).toBe(0)
      expect(joined.envelope.result).toMatchObject({profile: 'lab', registration: {status: 'registered', via: 'dev-fund'}})
      expect(BigInt(joined.envelope.result.balanceWei)).toBeGreaterThan(0n)
      expect(await lookupRecipient(registryContract(descriptor.registry, provider), joined.envelope.result.address)).toBe(
        joined.envelope.result.recipient,
      )
      expect(existsSync(join(lab.home, 'registration-lab.json'))).toBe(false)
    } finally {
      await lab.cleanup()
    }
  })
})
