import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {JsonRpcProvider} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseEnvelope, runBin, useTempHome, type TestHome} from '../helpers/cli.js'

interface Status {
  running: boolean
  rpcUrl: string | null
  chainId: number | null
  blockNumber: number | null
}

async function balanceOf(rpcUrl: string, address: string, blockTag?: number): Promise<bigint> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, {staticNetwork: true})
  try {
    return await provider.getBalance(address, blockTag)
  } finally {
    provider.destroy()
  }
}

async function waitUntilDead(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0)
    } catch {
      return
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`process ${pid} still alive`)
}

describe('embedded node lifecycle (real anvil)', () => {
  let t: TestHome
  let address: string
  let clinic: string
  beforeAll(() => {
    t = useTempHome()
  })
  afterAll(async () => t.cleanup())

  const status = (): Status => parseEnvelope<Status>(runBin(['node', 'status', '--json'], {env: t.env}).stdout).result

  it('init creates the profile, starts the node and funds the wallet; a second init is a no-op', async () => {
    const first = runBin(['init', '--json'], {env: t.env})
    expect(first.status).toBe(0)
    const result = parseEnvelope<{profile: string; address: string; recipient: string; rpcUrl: string; chainId: number}>(
      first.stdout,
    ).result
    expect(result).toMatchObject({profile: 'local', chainId: 31337})
    expect(result.recipient).toMatch(/^age1/)
    address = result.address
    // Funded with 1,000 ETH from a development account, less the gas of deploying the registry and
    // publishing the recipient.
    const balance = await balanceOf(result.rpcUrl, address)
    expect(balance).toBeGreaterThan(999n * 10n ** 18n)
    expect(balance).toBeLessThan(1000n * 10n ** 18n)

    const second = runBin(['init'], {env: t.env})
    expect(second.status).toBe(0)
    expect(second.stdout).toContain('already initialised')
    const again = parseEnvelope<{address: string; alreadyInitialised: boolean}>(runBin(['init', '--json'], {env: t.env}).stdout).result
    expect(again).toMatchObject({address, alreadyInitialised: true})
  })

  it('node status --json returns {running, rpcUrl, chainId, blockNumber}', () => {
    const s = status()
    expect(s.running).toBe(true)
    expect(s.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(s.chainId).toBe(31337)
    expect(s.blockNumber).toBeGreaterThanOrEqual(1)
  })

  it('stop and start keep every mined block and balance', async () => {
    const created = runBin(['profile', 'create', 'clinic', '--json'], {env: t.env})
    expect(created.status).toBe(0)
    clinic = parseEnvelope<{address: string}>(created.stdout).result.address
    const before = status()
    const clinicBalance = await balanceOf(before.rpcUrl as string, clinic)
    expect(clinicBalance).toBeGreaterThan(999n * 10n ** 18n)
    expect(runBin(['node', 'stop', '--json'], {env: t.env}).status).toBe(0)
    expect(status().running).toBe(false)
    const started = parseEnvelope<{restoredState: boolean; rpcUrl: string}>(runBin(['node', 'start', '--json'], {env: t.env}).stdout).result
    expect(started.restoredState).toBe(true)
    const after = status()
    expect(after.blockNumber).toBe(before.blockNumber)
    expect(await balanceOf(after.rpcUrl as string, clinic)).toBe(clinicBalance)
  })

  it('a kill -9 of the node loses nothing medctl confirmed, and the next command restarts it on demand', async () => {
    // A write after the last restart: the lab's funding transfer.
    const lab = parseEnvelope<{address: string}>(runBin(['profile', 'create', 'lab', '--json'], {env: t.env}).stdout).result.address
    const before = status()
    const labBalance = await balanceOf(before.rpcUrl as string, lab)
    const clinicBalance = await balanceOf(before.rpcUrl as string, clinic)
    expect(labBalance).toBeGreaterThan(999n * 10n ** 18n)
    const {pid} = JSON.parse(readFileSync(join(t.home, 'data', 'node', 'node.json'), 'utf8')) as {pid: number}
    process.kill(pid, 'SIGKILL')
    await waitUntilDead(pid)
    expect(status().running).toBe(false)
    // profile create needs the chain (funding): it starts the node by itself.
    expect(runBin(['profile', 'create', 'lab2', '--json'], {env: t.env}).status).toBe(0)
    const after = status()
    expect(after.running).toBe(true)
    // Every block mined before the kill is still there; lab2's funding and key publication follow.
    expect(after.blockNumber).toBeGreaterThan(before.blockNumber as number)
    expect(await balanceOf(after.rpcUrl as string, lab, before.blockNumber as number)).toBe(labBalance)
    expect(await balanceOf(after.rpcUrl as string, lab)).toBe(labBalance)
    expect(await balanceOf(after.rpcUrl as string, clinic)).toBe(clinicBalance)
  })
})
