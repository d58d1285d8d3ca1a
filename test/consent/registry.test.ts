import {JsonRpcProvider, Wallet, ZeroHash, type Contract} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ANVIL_DEV_KEYS, rpcCall, startAnvil, type AnvilHandle} from '../../src/lib/chain/anvil.js'
import {loadArtifact} from '../../src/lib/chain/artifact.js'
import {
  checkConsent,
  classesMask,
  consentIdOf,
  epochOf,
  deployRegistry,
  grantBatch,
  newNonce,
  optOut,
  openBreakGlass,
  purposesMask,
  registryContract,
  revokeAll,
  revokeConsent,
  signGrant,
  submitGrant,
  type GrantInput,
} from '../../src/lib/consent/index.js'

const SUBJECT = `0x${'ab'.repeat(32)}`
const OTHER = `0x${'cd'.repeat(32)}`

describe('ConsentRegistry on a real anvil', () => {
  let anvil: AnvilHandle
  let provider: JsonRpcProvider
  let custodian: Wallet
  let grantee: {address: string}
  let stranger: Wallet
  let registry: Contract
  let address: string
  let chainId: number

  const now = async (): Promise<number> => (await provider.getBlock('latest'))?.timestamp ?? 0
  const grant = async (overrides: Partial<GrantInput> = {}): Promise<GrantInput> => {
    const t = await now()
    const epoch = await epochOf(registry, overrides.subject ?? SUBJECT)
    return {subject: SUBJECT, epoch, grantee: grantee.address, purposes: purposesMask(['TREAT']), classes: classesMask(['labs', 'conditions']), notBefore: t, notAfter: t + 86_400, termsHash: ZeroHash, nonce: newNonce(), deadline: BigInt(t + 3600), ...overrides}
  }
  const check = (purpose: 'TREAT' | 'HRESCH' | 'ETREAT' = 'TREAT', classes: Array<'labs' | 'vitals' | 'conditions'> = ['labs'], subject = SUBJECT) =>
    checkConsent(registry, {subject, grantee: grantee.address, purpose, classes})
  const advance = async (seconds: number) => {
    await rpcCall(anvil.rpcUrl, 'evm_increaseTime', [seconds])
    await rpcCall(anvil.rpcUrl, 'evm_mine', [])
  }

  beforeAll(async () => {
    anvil = await startAnvil()
    provider = new JsonRpcProvider(anvil.rpcUrl, undefined, {staticNetwork: true, cacheTimeout: -1})
    custodian = new Wallet(ANVIL_DEV_KEYS[0], provider)
    grantee = {address: Wallet.createRandom().address}
    stranger = new Wallet(ANVIL_DEV_KEYS[1], provider)
    address = (await deployRegistry(custodian)).address
    registry = registryContract(address, custodian)
    chainId = Number((await provider.getNetwork()).chainId)
  }, 60_000)
  afterAll(async () => {
    provider.destroy()
    await anvil.stop()
  })

  it('NoConsent before any grant; Permit after a custodian-signed grant relayed by anyone', async () => {
    expect(await check()).toEqual({decision: 'NoConsent', reason: 'NoConsent'})
    const g = await grant()
    const signature = await signGrant(custodian, chainId, address, g)
    const relayed = registryContract(address, stranger)
    const result = await submitGrant(relayed, g, signature)
    expect(result.noop).toBe(false)
    expect(await check()).toMatchObject({decision: 'Permit', reason: 'Permit', consentId: result.consentId})
    // The id computed off chain (imports use it to find what already landed) is the contract's.
    expect(consentIdOf(g)).toBe(result.consentId.toLowerCase())
  })

  it('re-submitting an identical grant is a no-op; a replayed signature cannot do anything new', async () => {
    const g = await grant({subject: OTHER})
    const signature = await signGrant(custodian, chainId, address, g)
    const first = await submitGrant(registry, g, signature)
    const again = await submitGrant(registry, g, signature)
    expect(again).toMatchObject({consentId: first.consentId, noop: true})
  })

  it('class not covered and purpose not covered are Deny with their reason', async () => {
    expect(await check('TREAT', ['vitals'])).toMatchObject({decision: 'Deny', reason: 'ClassNotCovered'})
    expect(await check('HRESCH', ['labs'])).toMatchObject({decision: 'Deny', reason: 'PurposeNotCovered'})
  })

  it('a wrong signer, a signature for another chain id or another contract: E_INVALID_SIGNER', async () => {
    const g = await grant()
    await expect(submitGrant(registry, g, await signGrant(stranger, chainId, address, g))).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId + 1, address, g))).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId, stranger.address, g))).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
  })

  it('a signature past its deadline: E_SIGNATURE_EXPIRED', async () => {
    const t = await now()
    const g = await grant({deadline: BigInt(t - 1)})
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId, address, g))).rejects.toMatchObject({code: 'E_SIGNATURE_EXPIRED'})
  })

  it('a duration beyond the purpose cap is refused', async () => {
    const t = await now()
    const g = await grant({purposes: purposesMask(['ETREAT']), notAfter: t + 3 * 86_400})
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId, address, g))).rejects.toMatchObject({code: 'E_DURATION_TOO_LONG', exitCode: 2})
  })

  it('not yet valid, then valid, then expired — on the chain\'s clock', async () => {
    const subject = `0x${'01'.repeat(32)}`
    const t = await now()
    const g = await grant({subject, notBefore: t + 1000, notAfter: t + 2000})
    await submitGrant(registry, g, await signGrant(custodian, chainId, address, g))
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'NotYetValid'})
    await advance(1500)
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Permit'})
    await advance(1000)
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'Expired'})
  })

  it('revoke is final: Deny Revoked, and the revoked grant can never be re-submitted', async () => {
    const subject = `0x${'02'.repeat(32)}`
    const g = await grant({subject})
    const signature = await signGrant(custodian, chainId, address, g)
    const {consentId} = await submitGrant(registry, g, signature)
    const revoked = await revokeConsent(registry, subject, grantee.address, consentId)
    expect(BigInt(revoked.gasUsed)).toBeLessThanOrEqual(35_000n)
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'Revoked', consentId})
    await expect(submitGrant(registry, g, signature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED', exitCode: 5})
    await expect(revokeConsent(registryContract(address, stranger), subject, grantee.address, consentId)).rejects.toMatchObject({code: 'E_NOT_AUTHORIZED'})
  })

  it('revoke-all is O(1) and turns every consent of the subject into Deny Revoked', async () => {
    const subject = `0x${'03'.repeat(32)}`
    const g = await grant({subject})
    const signature = await signGrant(custodian, chainId, address, g)
    await submitGrant(registry, g, signature)
    const unsent = await grant({subject, purposes: purposesMask(['HRESCH'])})
    const unsentSignature = await signGrant(custodian, chainId, address, unsent)
    const result = await revokeAll(registry, subject)
    expect(BigInt(result.gasUsed)).toBeLessThan(50_000n)
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'Revoked'})

    // Every grant signed before the revoke-all is void: no replay, sent or not, single or batched.
    await expect(submitGrant(registry, g, signature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED'})
    await expect(submitGrant(registry, unsent, unsentSignature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED'})
    expect((await grantBatch(registry, [g, unsent])).rejected).toEqual([{index: 0, reason: 'Revoked'}, {index: 1, reason: 'Revoked'}])
    expect(await check('HRESCH', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'Revoked'})

    // A grant made in the new epoch is in force.
    const fresh = await grant({subject})
    expect(fresh.epoch).toBe(1)
    await submitGrant(registry, fresh, await signGrant(custodian, chainId, address, fresh))
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Permit'})
  })

  it('an opt-out makes every decision for the purpose Deny, blocks new grants and break-glass', async () => {
    const subject = `0x${'04'.repeat(32)}`
    const g = await grant({subject, purposes: purposesMask(['TREAT', 'ETREAT']), notAfter: (await now()) + 3600})
    await submitGrant(registry, g, await signGrant(custodian, chainId, address, g))
    await optOut(registry, subject, purposesMask(['ETREAT']))
    expect(await check('ETREAT', ['labs'], subject)).toMatchObject({decision: 'Deny', reason: 'OptedOut'})
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'Permit'})
    const again = await grant({subject, purposes: purposesMask(['ETREAT']), notAfter: (await now()) + 3600})
    await expect(submitGrant(registry, again, await signGrant(custodian, chainId, address, again))).rejects.toMatchObject({code: 'E_OPTED_OUT'})
    await expect(openBreakGlass(registry, {subject, grantee: grantee.address, hours: 2, reasonHash: ZeroHash})).rejects.toMatchObject({code: 'E_OPTED_OUT'})
  })

  it('break-glass opens time-boxed emergency access only', async () => {
    const subject = `0x${'05'.repeat(32)}`
    expect(await check('ETREAT', ['labs'], subject)).toMatchObject({decision: 'NoConsent'})
    const opened = await openBreakGlass(registry, {subject, grantee: grantee.address, hours: 2, reasonHash: ZeroHash})
    expect(opened.accessId).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await check('ETREAT', ['labs'], subject)).toMatchObject({decision: 'Permit', reason: 'BreakGlass', breakGlass: true})
    expect(await check('TREAT', ['labs'], subject)).toMatchObject({decision: 'NoConsent'})
    await advance(3 * 3600)
    expect(await check('ETREAT', ['labs'], subject)).toMatchObject({decision: 'NoConsent'})
  })

  it('a batch with bad entries lands the good ones and reports the bad ones by index', async () => {
    const t = await now()
    const good = await grant({subject: `0x${'06'.repeat(32)}`})
    const expired = await grant({subject: `0x${'07'.repeat(32)}`, notBefore: t - 100, notAfter: t - 10})
    const empty = await grant({subject: `0x${'08'.repeat(32)}`, classes: 0})
    const tooLong = await grant({subject: `0x${'09'.repeat(32)}`, notAfter: t + 20 * 365 * 86_400})
    const result = await grantBatch(registry, [good, expired, empty, tooLong])
    expect(result.granted).toHaveLength(1)
    expect(result.rejected).toEqual([{index: 1, reason: 'Expired'}, {index: 2, reason: 'Empty'}, {index: 3, reason: 'TooLong'}])
    expect(await check('TREAT', ['labs'], good.subject)).toMatchObject({decision: 'Permit'})
    await expect(grantBatch(registryContract(address, stranger), [good])).rejects.toMatchObject({code: 'E_NOT_AUTHORIZED'})
  })

  it('a single grant costs at most 80,000 gas and a batched grant at most 40,000 per grant', async () => {
    const g = await grant({subject: `0x${'0a'.repeat(32)}`})
    const single = await submitGrant(registry, g, await signGrant(custodian, chainId, address, g))
    expect(BigInt(single.gasUsed)).toBeLessThanOrEqual(80_000n)
    const batch = await Promise.all(Array.from({length: 50}, (_, i) => grant({subject: `0x${(i + 0x100).toString(16).padStart(64, '0')}`})))
    const result = await grantBatch(registry, batch)
    expect(result.granted).toHaveLength(50)
    expect(BigInt(result.gasUsed) / 50n).toBeLessThanOrEqual(40_000n)
  })

  it('no string, name or CID can go on chain: no function input or event field is a string or bytes of free length', () => {
    const abi = loadArtifact('ConsentRegistry').abi as Array<{type: string; name?: string; inputs?: Array<{type: string; name: string}>}>
    const free = abi
      .filter((item) => item.type === 'function' || item.type === 'event')
      .flatMap((item) => (item.inputs ?? []).filter((input) => input.type === 'string' || (input.type === 'bytes' && !(item.name === 'grant' && input.name === 'signature'))).map((input) => `${item.name}.${input.name}`))
    expect(free).toEqual([])
  })
})
