/**
 * Gas per consent operation, from receipts, and grants/s over a 10,000-grant migration on anvil.
 *   node --import tsx bench/gas/run.ts [--grants 10000] [--batch 100]
 */
import {JsonRpcProvider, Wallet, ZeroHash} from 'ethers'
import {parseArgs} from 'node:util'
import {ANVIL_DEV_KEYS, startAnvil} from '../../src/lib/chain/anvil.js'
import {classesMask, deployRegistry, grantBatch, newNonce, purposesMask, registryContract, revokeAll, revokeConsent, signGrant, submitGrant, anchorTreeHead, type GrantInput} from '../../src/lib/consent/index.js'

const {values} = parseArgs({options: {grants: {type: 'string', default: '10000'}, batch: {type: 'string', default: '100'}}})
const total = Number(values.grants)
const batchSize = Number(values.batch)
const anvil = await startAnvil({extraArgs: ['--gas-limit', '60000000']})
const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, {staticNetwork: true, cacheTimeout: -1})
try {
  const custodian = new Wallet(ANVIL_DEV_KEYS[0], provider)
  const {address} = await deployRegistry(custodian)
  const registry = registryContract(address, custodian)
  const chainId = Number((await provider.getNetwork()).chainId)
  const now = (await provider.getBlock('latest'))?.timestamp ?? 0
  const grantee = Wallet.createRandom().address
  let n = 0
  const make = (): GrantInput => ({
    subject: `0x${(++n).toString(16).padStart(64, '0')}`,
    epoch: 0,
    grantee,
    purposes: purposesMask(['TREAT', 'HRESCH']),
    classes: classesMask(['labs', 'vitals', 'conditions']),
    notBefore: now,
    notAfter: now + 180 * 86_400,
    termsHash: `0x${'11'.repeat(32)}`,
    nonce: newNonce(),
    deadline: BigInt(now + 3600),
  })
  const single = make()
  const granted = await submitGrant(registry, single, await signGrant(custodian, chainId, address, single))
  const batch = await grantBatch(registry, Array.from({length: batchSize}, make))
  const revoked = await revokeConsent(registry, single.subject, grantee, granted.consentId)
  const all = await revokeAll(registry, batch.granted.length ? `0x${(n).toString(16).padStart(64, '0')}` : single.subject)
  const checkGas = await registry.check.estimateGas(single.subject, grantee, 0, classesMask(['labs']))
  const anchored = await anchorTreeHead(registry, {size: 1000, root: ZeroHash.replace(/0$/, '1')})

  const start = performance.now()
  let migrated = 0
  let gas = 0n
  while (migrated < total) {
    const size = Math.min(batchSize, total - migrated)
    const result = await grantBatch(registry, Array.from({length: size}, make))
    migrated += result.granted.length
    gas += BigInt(result.gasUsed)
  }
  const seconds = (performance.now() - start) / 1000

  console.log('operation                         gas')
  console.log(`single grant (EIP-712, relayed)   ${granted.gasUsed}   (target <= 80,000)`)
  console.log(`batched grant, per grant (x${batchSize})   ${(BigInt(batch.gasUsed) / BigInt(batchSize)).toString()}   (target <= 40,000)`)
  console.log(`revoke                            ${revoked.gasUsed}   (target <= 35,000)`)
  console.log(`revoke-all (epoch bump)           ${all.gasUsed}`)
  console.log(`check (eth_estimateGas of a view) ${checkGas.toString()}`)
  console.log(`anchor (tree head)                ${anchored.gasUsed}`)
  console.log(`migration: ${migrated} grants in ${Math.ceil(total / batchSize)} transactions, ${seconds.toFixed(1)} s, ${(migrated / seconds).toFixed(0)} grants/s, ${(gas / BigInt(migrated)).toString()} gas/grant`)
} finally {
  provider.destroy()
  await anvil.stop()
}
