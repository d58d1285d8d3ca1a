import {randomBytes} from 'node:crypto'
import Database from 'better-sqlite3'
import {JsonRpcProvider, Wallet, hexlify} from 'ethers'
import type {ConsentRegistry} from '../../src/lib/chain/registry.js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ANVIL_DEV_KEYS, startAnvil, type AnvilHandle} from '../../src/lib/chain/anvil.js'
import {send, timedProvider} from '../../src/lib/chain/client.js'
import {TxJournal} from '../../src/lib/chain/journal.js'
import {classesMask, grantBatch, listConsents, newNonce, purposeBit, type GrantInput} from '../../src/lib/consent/index.js'
import {deployRegistry, registryContract} from '../../src/lib/chain/registry.js'
import {RpcProxy} from '../helpers/rpc-proxy.js'

describe('transactions are sent exactly once; reads survive capped ranges and dead nodes', () => {
  let anvil: AnvilHandle
  let direct: JsonRpcProvider
  let address: string

  const provider = (url: string) => new JsonRpcProvider(url, undefined, {staticNetwork: true, cacheTimeout: -1})
  const connect = (url: string): {registry: ConsentRegistry; wallet: Wallet; p: JsonRpcProvider} => {
    const p = provider(url)
    const wallet = new Wallet(ANVIL_DEV_KEYS[0], p)
    return {registry: registryContract(address, wallet), wallet, p}
  }

  beforeAll(async () => {
    anvil = await startAnvil()
    direct = provider(anvil.rpcUrl)
    address = (await deployRegistry(new Wallet(ANVIL_DEV_KEYS[0], direct))).address
  }, 60_000)
  afterAll(async () => {
    direct.destroy()
    await anvil.stop()
  })

  it('a lost response after the broadcast: the retry re-sends the same bytes, one transaction lands', async () => {
    const proxy = new RpcProxy(anvil.rpcUrl, {dropSendResponses: 1})
    const {registry, wallet, p} = connect(await proxy.start())
    try {
      const journal = new TxJournal(new Database(':memory:'))
      const before = await direct.getTransactionCount(wallet.address)
      const anchorsBefore = Number(await registryContract(address, direct).anchorCount())
      const sent = await send(registry, 'anchor', [7, hexlify(randomBytes(32))], {journal})
      expect(await direct.getTransactionCount(wallet.address)).toBe(before + 1)
      expect(Number(await registryContract(address, direct).anchorCount())).toBe(anchorsBefore + 1)
      expect(proxy.count('eth_sendRawTransaction')).toBeGreaterThanOrEqual(2)
      const rawSent = proxy.calls.filter((c) => c.method === 'eth_sendRawTransaction').map((c) => (c.params as string[])[0])
      expect(new Set(rawSent).size).toBe(1)
      expect(journal.get(sent.txHash)).toMatchObject({status: 'mined', nonce: before})
    } finally {
      p.destroy()
      await proxy.stop()
    }
  })

  it('a re-run with the same intent finishes the journalled transaction instead of sending another', async () => {
    const {registry, wallet, p} = connect(anvil.rpcUrl)
    try {
      const journal = new TxJournal(new Database(':memory:'))
      const first = await send(registry, 'anchor', [8, hexlify(randomBytes(32))], {journal, intent: 'anchor:8'})
      // The first run "crashed" before its bookkeeping: the intent is still unfinished.
      const count = await direct.getTransactionCount(wallet.address)
      const again = await send(registry, 'anchor', [8, hexlify(randomBytes(32))], {journal, intent: 'anchor:8'})
      expect(again).toMatchObject({txHash: first.txHash, resumed: true})
      expect(await direct.getTransactionCount(wallet.address)).toBe(count)
      journal.finish(first.txHash)
      const third = await send(registry, 'anchor', [8, hexlify(randomBytes(32))], {journal, intent: 'anchor:8'})
      expect(third.txHash).not.toBe(first.txHash)
    } finally {
      p.destroy()
    }
  })

  it('event scans start at the deployment block and page through ranges a capped provider accepts', async () => {
    const {registry, p: writer} = connect(anvil.rpcUrl)
    const now = (await direct.getBlock('latest'))?.timestamp ?? 0
    const grantee = Wallet.createRandom().address
    const make = (): GrantInput => ({
      subject: hexlify(randomBytes(32)),
      epoch: 0,
      grantee,
      purpose: purposeBit('TREAT'),
      classes: classesMask(['labs']),
      notBefore: now,
      notAfter: now + 86_400,
      termsHash: hexlify(randomBytes(32)),
      nonce: newNonce(),
      deadline: 0,
    })
    await grantBatch(registry, [make(), make()])
    await direct.send('anvil_mine', ['0x12c'])
    await grantBatch(registry, [make()])
    writer.destroy()
    const proxy = new RpcProxy(anvil.rpcUrl, {maxLogRange: 100})
    const p = provider(await proxy.start())
    try {
      const reader = registryContract(address, p)
      const head = await p.getBlockNumber()
      const narrow = await listConsents(reader, {grantee, now, logRange: 50})
      expect(narrow.map((c) => c.status)).toEqual(['active', 'active', 'active'])
      expect(Math.max(...proxy.logRanges)).toBeLessThanOrEqual(50)
      // The default range (5,000) is refused by this provider: the scan splits it and still succeeds.
      const wide = await listConsents(reader, {grantee, now})
      expect(wide).toHaveLength(3)
      const deployed = Number(await reader.deployedBlock())
      expect(deployed).toBeGreaterThan(0)
      const requested = proxy.calls
        .filter((c) => c.method === 'eth_getLogs')
        .map((c) => Number(BigInt((c.params?.[0] as {fromBlock: string}).fromBlock)))
      expect(Math.min(...requested)).toBe(deployed)
      expect(head).toBeGreaterThan(300)
    } finally {
      p.destroy()
      await proxy.stop()
    }
  })

  it('an unreachable or hanging node fails fast with E_RPC_UNAVAILABLE, never E_UNEXPECTED or a long hang', async () => {
    const hang = new RpcProxy(anvil.rpcUrl, {hang: true})
    const hangUrl = await hang.start()
    try {
      for (const url of ['http://127.0.0.1:1', hangUrl]) {
        const p = await timedProvider(url, 31337, 1500)
        const started = Date.now()
        const reader = registryContract(address, p)
        await expect(listConsents(reader, {now: 0})).rejects.toMatchObject({code: 'E_RPC_UNAVAILABLE'})
        expect(Date.now() - started).toBeLessThan(5000)
        p.destroy()
      }
    } finally {
      await hang.stop()
    }
  })
})
