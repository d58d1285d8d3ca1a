/**
 * Gas per consent operation, from receipts, and grants/s over a 10,000-grant migration on anvil.
 *   node --import tsx bench/gas/run.ts [--grants 10000] [--batch 100]
 * Subjects and terms hashes are random 32-byte values, as real HMAC pseudonyms and salted hashes
 * are (calldata of zero bytes is cheaper, so counting-up subjects would flatter the figures).
 */
import {randomBytes} from 'node:crypto'
import {JsonRpcProvider, Wallet, ZeroHash, hexlify} from 'ethers'
import {parseArgs} from 'node:util'
import {ANVIL_DEV_KEYS, startAnvil} from '../../src/lib/chain/anvil.js'
import {
  classesMask,
  grantBatch,
  newNonce,
  purposeBit,
  revokeAll,
  revokeConsent,
  signGrant,
  submitGrant,
  type GrantInput,
} from '../../src/lib/consent/index.js'
import {anchorTreeHead, deployRegistry, registryContract} from '../../src/lib/chain/registry.js'

const {values} = parseArgs({options: {grants: {type: 'string', default: '10000'}, batch: {type: 'string', default: '100'}}})
const total = Number(values.grants)
const batchSize = Number(values.batch)
const anvil = await startAnvil({extraArgs: ['--gas-limit', '60000000']})
const provider = new JsonRpcProvider(anvil.rpcUrl, undefined, {staticNetwork: true, cacheTimeout: -1})
const random32 = () => hexlify(randomBytes(32))
try {
  const custodian = new Wallet(ANVIL_DEV_KEYS[0], provider)
  const {address} = await deployRegistry(custodian)
  const registry = registryContract(address, custodian)
  const chainId = Number((await provider.getNetwork()).chainId)
  const now = (await provider.getBlock('latest'))?.timestamp ?? 0
  const grantee = Wallet.createRandom().address
  const make = (subject = random32(), purpose = purposeBit('TREAT')): GrantInput => ({
    subject,
    epoch: 0,
    grantee,
    purpose,
    classes: classesMask(['labs', 'vitals', 'conditions']),
    notBefore: now,
    notAfter: now + 180 * 86_400,
    termsHash: random32(),
    nonce: newNonce(),
    deadline: now + 3600,
  })
  const single = make()
  const granted = await submitGrant(registry, single, await signGrant(custodian, chainId, address, single))
  const second = make(single.subject, purposeBit('HPAYMT'))
  const secondPurpose = await submitGrant(registry, second, await signGrant(custodian, chainId, address, second))
  const replacement = {...make(single.subject), nonce: newNonce(single.nonce)}
  const replaced = await submitGrant(registry, replacement, await signGrant(custodian, chainId, address, replacement))
  const batch = await grantBatch(
    registry,
    Array.from({length: batchSize}, () => make()),
  )
  const revoked = await revokeConsent(registry, {subject: single.subject, grantee, purpose: single.purpose})
  const all = await revokeAll(registry, single.subject)
  const checkGas = await registry.check.estimateGas(single.subject, grantee, 0, classesMask(['labs']))
  const anchored = await anchorTreeHead(registry, {size: 1000, root: ZeroHash.replace(/0$/, '1')})

  const start = performance.now()
  let migrated = 0
  let gas = 0n
  while (migrated < total) {
    const size = Math.min(batchSize, total - migrated)
    const result = await grantBatch(
      registry,
      Array.from({length: size}, () => make()),
    )
    migrated += result.granted.length
    gas += BigInt(result.gasUsed)
  }
  const seconds = (performance.now() - start) / 1000
  const row = (name: string, now: string | bigint, target: string, before: string) =>
    console.log(`${name.padEnd(40)}${String(now).padStart(8)}   ${target.padEnd(14)}${before}`)

  console.log(`${'operation'.padEnd(40)}${'gas'.padStart(8)}   ${'target'.padEnd(14)}previous`)
  row('single grant (EIP-712, relayed)', granted.gasUsed, '<= 60,000', '70,639')
  row('grant, second purpose, same grantee', secondPurpose.gasUsed, '', '(replaced the first grant)')
  row('grant replacing the same purpose', replaced.gasUsed, '', '')
  row(`batched grant, per grant (x${batchSize})`, (BigInt(batch.gasUsed) / BigInt(batchSize)).toString(), '<= 30,000', '37,872')
  row('revoke', revoked.gasUsed, '<= 28,000', '34,192')
  row('revoke-all (epoch bump)', all.gasUsed, '', '')
  row('check (eth_estimateGas of a view)', checkGas.toString(), '', '')
  row('anchor (tree head)', anchored.gasUsed, '', '')
  console.log(
    `migration: ${migrated} grants in ${Math.ceil(total / batchSize)} transactions, ${seconds.toFixed(1)} s, ${(migrated / seconds).toFixed(0)} grants/s, ${(gas / BigInt(migrated)).toString()} gas/grant`,
  )
} finally {
  provider.destroy()
  await anvil.stop()
}
