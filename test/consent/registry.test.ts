import {randomBytes} from 'node:crypto'
import {JsonRpcProvider, Wallet, ZeroHash, hexlify} from 'ethers'
import type {ConsentRegistry} from '../../src/lib/chain/registry.js'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ANVIL_DEV_KEYS, rpcCall, startAnvil, type AnvilHandle} from '../../src/lib/chain/anvil.js'
import {loadArtifact} from '../../src/lib/chain/artifact.js'
import {
  attestClaim,
  attestationOf,
  checkConsent,
  classesMask,
  consentIdOf,
  currentConsent,
  epochOf,
  grantBatch,
  newNonce,
  openBreakGlass,
  optOut,
  purposeBit,
  purposesMask,
  revokeAll,
  revokeConsent,
  setController,
  signGrant,
  submitGrant,
  type GrantInput,
  type Purpose,
} from '../../src/lib/consent/index.js'
import {
  deployRegistry,
  lookupRecipient,
  recipientNonce,
  registryContract,
  relayRecipientRegistration,
  signRecipientRegistration,
} from '../../src/lib/chain/registry.js'

const newSubject = () => hexlify(randomBytes(32))

describe('ConsentRegistry on a real anvil', () => {
  let anvil: AnvilHandle
  let provider: JsonRpcProvider
  let custodian: Wallet
  let grantee: {address: string}
  let stranger: Wallet
  let patient: Wallet
  let registry: ConsentRegistry
  let address: string
  let chainId: number

  const now = async (): Promise<number> => (await provider.getBlock('latest'))?.timestamp ?? 0
  const grant = async (subject: string, overrides: Partial<GrantInput> = {}): Promise<GrantInput> => {
    const t = await now()
    const epoch = await epochOf(registry, subject)
    return {
      subject,
      epoch,
      grantee: grantee.address,
      purpose: purposeBit('TREAT'),
      classes: classesMask(['labs', 'conditions']),
      notBefore: t,
      notAfter: t + 86_400,
      termsHash: hexlify(randomBytes(32)),
      nonce: newNonce(),
      deadline: t + 3600,
      ...overrides,
    }
  }
  const signed = async (g: GrantInput, by: Wallet = custodian) => ({g, signature: await signGrant(by, chainId, address, g)})
  const check = (
    subject: string,
    purpose: Purpose = 'TREAT',
    classes: Array<'labs' | 'vitals' | 'conditions' | 'medications'> = ['labs'],
  ) => checkConsent(registry, {subject, grantee: grantee.address, purpose, classes})
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
    patient = new Wallet(Wallet.createRandom().privateKey, provider)
    await (await custodian.sendTransaction({to: patient.address, value: 10n ** 18n})).wait()
    address = (await deployRegistry(custodian)).address
    registry = registryContract(address, custodian)
    chainId = Number((await provider.getNetwork()).chainId)
  }, 60_000)
  afterAll(async () => {
    provider.destroy()
    await anvil.stop()
  })

  it('NoConsent before any grant; Permit after a custodian-signed grant relayed by anyone; the id is computed off chain', async () => {
    const subject = newSubject()
    expect(await check(subject)).toEqual({decision: 'NoConsent', reason: 'NoConsent'})
    const {g, signature} = await signed(await grant(subject))
    const result = await submitGrant(registryContract(address, stranger), g, signature)
    expect(result.noop).toBe(false)
    expect(await check(subject)).toMatchObject({decision: 'Permit', reason: 'Permit', consentId: consentIdOf(g)})
    expect(result.consentId).toBe(consentIdOf(g))
    expect((await currentConsent(registry, subject, grantee.address, purposeBit('TREAT'))).consentId).toBe(consentIdOf(g))
  })

  it('re-submitting an identical grant is a no-op', async () => {
    const {g, signature} = await signed(await grant(newSubject()))
    const first = await submitGrant(registry, g, signature)
    expect(await submitGrant(registry, g, signature)).toMatchObject({consentId: first.consentId, noop: true})
  })

  it('consents for different purposes to one grantee stand side by side', async () => {
    const subject = newSubject()
    const treat = await signed(await grant(subject, {classes: classesMask(['labs'])}))
    const pay = await signed(await grant(subject, {purpose: purposeBit('HPAYMT'), classes: classesMask(['medications'])}))
    await submitGrant(registry, treat.g, treat.signature)
    await submitGrant(registry, pay.g, pay.signature)
    expect(await check(subject, 'TREAT', ['labs'])).toMatchObject({decision: 'Permit', consentId: consentIdOf(treat.g)})
    expect(await check(subject, 'HPAYMT', ['medications'])).toMatchObject({decision: 'Permit', consentId: consentIdOf(pay.g)})
    expect(await check(subject, 'TREAT', ['medications'])).toMatchObject({decision: 'Deny', reason: 'ClassNotCovered'})
    expect(await check(subject, 'HRESCH', ['labs'])).toMatchObject({decision: 'NoConsent'})
  })

  it('a wrong signer, a signature for another chain id or another contract: E_INVALID_SIGNER', async () => {
    const g = await grant(newSubject())
    await expect(submitGrant(registry, g, await signGrant(stranger, chainId, address, g))).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId + 1, address, g))).rejects.toMatchObject({
      code: 'E_INVALID_SIGNER',
    })
    await expect(submitGrant(registry, g, await signGrant(custodian, chainId, stranger.address, g))).rejects.toMatchObject({
      code: 'E_INVALID_SIGNER',
    })
  })

  it('a signature past its deadline: E_SIGNATURE_EXPIRED; a duration beyond the purpose cap: E_DURATION_TOO_LONG', async () => {
    const t = await now()
    const late = await signed(await grant(newSubject(), {deadline: t - 1}))
    await expect(submitGrant(registry, late.g, late.signature)).rejects.toMatchObject({code: 'E_SIGNATURE_EXPIRED'})
    const long = await signed(await grant(newSubject(), {purpose: purposeBit('ETREAT'), notAfter: t + 3 * 86_400}))
    await expect(submitGrant(registry, long.g, long.signature)).rejects.toMatchObject({code: 'E_DURATION_TOO_LONG', exitCode: 2})
  })

  it("not yet valid, then valid, then expired — on the chain's clock", async () => {
    const subject = newSubject()
    const t = await now()
    const {g, signature} = await signed(await grant(subject, {notBefore: t + 1000, notAfter: t + 2000}))
    await submitGrant(registry, g, signature)
    expect(await check(subject)).toMatchObject({decision: 'Deny', reason: 'NotYetValid'})
    await advance(1500)
    expect(await check(subject)).toMatchObject({decision: 'Permit'})
    await advance(1000)
    expect(await check(subject)).toMatchObject({decision: 'Deny', reason: 'Expired'})
  })

  describe('no replay: every old signature, re-sent by anyone, after every kind of change', () => {
    it('after a revoke: the revoked grant (single or batched) never comes back, and a newer grant is what counts', async () => {
      const subject = newSubject()
      const g1 = await signed(await grant(subject, {classes: classesMask(['labs', 'medications'])}))
      await submitGrant(registry, g1.g, g1.signature)
      const revoked = await revokeConsent(registry, {subject, grantee: grantee.address, purpose: g1.g.purpose})
      expect(revoked.consentId).toBe(consentIdOf(g1.g))
      expect(BigInt(revoked.gasUsed)).toBeLessThanOrEqual(28_000n)
      expect(await check(subject, 'TREAT', ['medications'])).toMatchObject({decision: 'Deny', reason: 'Revoked'})
      const relayer = registryContract(address, stranger)
      await expect(submitGrant(relayer, g1.g, g1.signature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED', exitCode: 5})
      expect((await grantBatch(registry, [g1.g])).rejected).toEqual([{index: 0, reason: 'Revoked'}])
      // The patient's narrower G2 after the revoke, then G1 again: still refused, medications stay closed.
      const g2 = await signed(await grant(subject, {classes: classesMask(['labs'])}))
      await submitGrant(registry, g2.g, g2.signature)
      await expect(submitGrant(relayer, g1.g, g1.signature)).rejects.toMatchObject({code: 'E_CONSENT_SUPERSEDED'})
      expect(await check(subject, 'TREAT', ['medications'])).toMatchObject({
        decision: 'Deny',
        reason: 'ClassNotCovered',
        consentId: consentIdOf(g2.g),
      })
      expect(await check(subject, 'TREAT', ['labs'])).toMatchObject({decision: 'Permit', consentId: consentIdOf(g2.g)})
      // Raw contract call, no medctl code in the way: the contract itself refuses.
      const raw = registryContract(address, stranger)
      const tuple = [
        g1.g.subject,
        g1.g.epoch,
        g1.g.grantee,
        g1.g.purpose,
        g1.g.classes,
        g1.g.notBefore,
        g1.g.notAfter,
        g1.g.termsHash,
        g1.g.nonce,
        g1.g.deadline,
      ]
      await expect(raw.getFunction('grantScopedWithClasses').staticCall(tuple, g1.signature)).rejects.toMatchObject({
        revert: {name: 'ConsentSuperseded'},
      })
    })

    it('after a supersede: the older grant cannot win its place back; a nonce is used once', async () => {
      const subject = newSubject()
      const older = await signed(await grant(subject, {classes: classesMask(['labs', 'vitals'])}))
      const newer = await signed(await grant(subject, {classes: classesMask(['labs']), nonce: older.g.nonce + 1n}))
      await submitGrant(registry, older.g, older.signature)
      await submitGrant(registry, newer.g, newer.signature)
      await expect(submitGrant(registry, older.g, older.signature)).rejects.toMatchObject({code: 'E_CONSENT_SUPERSEDED'})
      expect((await grantBatch(registry, [older.g])).rejected).toEqual([{index: 0, reason: 'Superseded'}])
      // Another grant signed with the newer one's nonce but other terms: refused.
      const reuse = await signed(await grant(subject, {classes: classesMask(['vitals']), nonce: newer.g.nonce}))
      await expect(submitGrant(registry, reuse.g, reuse.signature)).rejects.toMatchObject({code: 'E_NONCE_USED'})
      expect(await check(subject, 'TREAT', ['vitals'])).toMatchObject({decision: 'Deny', reason: 'ClassNotCovered'})
      // A signature made before the newer grant but never sent is older too.
      const pending = await signed(await grant(subject, {nonce: older.g.nonce + 1n - 1n}))
      await expect(submitGrant(registry, pending.g, pending.signature)).rejects.toMatchObject({
        code: expect.stringMatching(/E_CONSENT_SUPERSEDED|E_NONCE_USED/),
      })
    })

    it('after a revoke-all: every grant of the old epoch is void, sent or not, single or batched', async () => {
      const subject = newSubject()
      const sent = await signed(await grant(subject))
      await submitGrant(registry, sent.g, sent.signature)
      const unsent = await signed(await grant(subject, {purpose: purposeBit('HRESCH')}))
      const result = await revokeAll(registry, subject)
      expect(BigInt(result.gasUsed)).toBeLessThan(50_000n)
      expect(await check(subject)).toMatchObject({decision: 'Deny', reason: 'Revoked'})
      await expect(submitGrant(registry, sent.g, sent.signature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED'})
      await expect(submitGrant(registry, unsent.g, unsent.signature)).rejects.toMatchObject({code: 'E_CONSENT_REVOKED'})
      expect((await grantBatch(registry, [sent.g, unsent.g])).rejected).toEqual([
        {index: 0, reason: 'Revoked'},
        {index: 1, reason: 'Revoked'},
      ])
      expect(await check(subject, 'HRESCH')).toMatchObject({decision: 'NoConsent'})
      const fresh = await signed(await grant(subject))
      expect(fresh.g.epoch).toBe(1)
      await submitGrant(registry, fresh.g, fresh.signature)
      expect(await check(subject)).toMatchObject({decision: 'Permit', consentId: consentIdOf(fresh.g)})
    })

    it('after an opt-out: old signatures for the purpose are refused, decisions are Deny, break-glass closed', async () => {
      const subject = newSubject()
      const t = await now()
      const treat = await signed(await grant(subject))
      const etreat = await signed(await grant(subject, {purpose: purposeBit('ETREAT'), notAfter: t + 3600}))
      await submitGrant(registry, treat.g, treat.signature)
      await optOut(registry, subject, purposesMask(['ETREAT']))
      await expect(submitGrant(registry, etreat.g, etreat.signature)).rejects.toMatchObject({code: 'E_OPTED_OUT'})
      expect((await grantBatch(registry, [etreat.g])).rejected).toEqual([{index: 0, reason: 'OptedOut'}])
      expect(await check(subject, 'ETREAT')).toMatchObject({decision: 'Deny', reason: 'OptedOut'})
      expect(await check(subject, 'TREAT')).toMatchObject({decision: 'Permit'})
      await expect(openBreakGlass(registry, {subject, grantee: grantee.address, hours: 2, reasonHash: ZeroHash})).rejects.toMatchObject({
        code: 'E_OPTED_OUT',
      })
    })
  })

  it('a patient with a wallet: the controller signs and revokes as controller; strangers cannot revoke', async () => {
    const subject = newSubject()
    await setController(registry, subject, patient.address)
    const {g, signature} = await signed(await grant(subject), patient)
    await submitGrant(registryContract(address, stranger), g, signature)
    await expect(
      revokeConsent(registryContract(address, stranger), {subject, grantee: grantee.address, purpose: g.purpose, asController: true}),
    ).rejects.toMatchObject({code: 'E_NOT_AUTHORIZED'})
    await expect(
      revokeConsent(registryContract(address, stranger), {subject, grantee: grantee.address, purpose: g.purpose}),
    ).rejects.toMatchObject({code: 'E_NOT_AUTHORIZED'})
    await revokeConsent(registryContract(address, patient), {subject, grantee: grantee.address, purpose: g.purpose, asController: true})
    expect(await check(subject)).toMatchObject({decision: 'Deny', reason: 'Revoked'})
  })

  it('break-glass opens time-boxed emergency access only', async () => {
    const subject = newSubject()
    expect(await check(subject, 'ETREAT')).toMatchObject({decision: 'NoConsent'})
    const opened = await openBreakGlass(registry, {subject, grantee: grantee.address, hours: 2, reasonHash: ZeroHash})
    expect(opened.accessId).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await check(subject, 'ETREAT')).toMatchObject({decision: 'Permit', reason: 'BreakGlass', breakGlass: true})
    expect(await check(subject, 'TREAT')).toMatchObject({decision: 'NoConsent'})
    await advance(3 * 3600)
    expect(await check(subject, 'ETREAT')).toMatchObject({decision: 'NoConsent'})
  })

  it('a batch with bad entries lands the good ones and reports the bad ones by index; only a custodian may batch', async () => {
    const t = await now()
    const good = await grant(newSubject())
    const expired = await grant(newSubject(), {notBefore: t - 100, notAfter: t - 10})
    const empty = await grant(newSubject(), {classes: 0})
    const tooLong = await grant(newSubject(), {notAfter: t + 20 * 365 * 86_400})
    const result = await grantBatch(registry, [good, expired, empty, tooLong])
    expect(result.granted).toEqual([consentIdOf(good)])
    expect(result.rejected).toEqual([
      {index: 1, reason: 'Expired'},
      {index: 2, reason: 'Empty'},
      {index: 3, reason: 'TooLong'},
    ])
    expect(await check(good.subject)).toMatchObject({decision: 'Permit'})
    await expect(grantBatch(registryContract(address, stranger), [good])).rejects.toMatchObject({code: 'E_NOT_AUTHORIZED'})
  })

  it('gas at the floor with realistic (random) subjects: single grant <= 60,000, batched <= 30,000 per grant, revoke <= 28,000', async () => {
    const single = await signed(await grant(newSubject()))
    expect(BigInt((await submitGrant(registry, single.g, single.signature)).gasUsed)).toBeLessThanOrEqual(60_000n)
    const batch = await Promise.all(Array.from({length: 100}, () => grant(newSubject())))
    const result = await grantBatch(registry, batch)
    expect(result.granted).toHaveLength(100)
    expect(BigInt(result.gasUsed) / 100n).toBeLessThanOrEqual(30_000n)
    const revoked = await revokeConsent(registry, {subject: single.g.subject, grantee: grantee.address, purpose: single.g.purpose})
    expect(BigInt(revoked.gasUsed)).toBeLessThanOrEqual(28_000n)
  })

  it('a member with no funds joins the key directory through a relayed, signed registration, used once', async () => {
    const member = Wallet.createRandom()
    const recipient = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'
    const other = 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj'
    const reg = await signRecipientRegistration(member, {
      chainId,
      registry: address,
      recipient,
      nonce: await recipientNonce(registry, member.address),
      deadline: (await now()) + 3600,
    })
    const relayer = registryContract(address, stranger)
    await relayRecipientRegistration(relayer, reg)
    expect(await lookupRecipient(registry, member.address)).toBe(recipient)
    // Replaying it is refused; a newer binding cannot be rolled back by the old signature.
    await expect(relayRecipientRegistration(relayer, reg)).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
    const rotated = await signRecipientRegistration(member, {
      chainId,
      registry: address,
      recipient: other,
      nonce: await recipientNonce(registry, member.address),
      deadline: (await now()) + 3600,
    })
    await relayRecipientRegistration(relayer, rotated)
    await expect(relayRecipientRegistration(relayer, reg)).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
    expect(await lookupRecipient(registry, member.address)).toBe(other)
    // Someone else's signature for the member's account is refused.
    const forged = {
      ...(await signRecipientRegistration(stranger, {
        chainId,
        registry: address,
        recipient,
        nonce: await recipientNonce(registry, member.address),
        deadline: (await now()) + 3600,
      })),
      account: member.address,
    }
    await expect(relayRecipientRegistration(relayer, forged)).rejects.toMatchObject({code: 'E_INVALID_SIGNER'})
  })

  it('claim attestations: custodian only, once per hash, only hash + subject + payer on chain', async () => {
    const claimHash = hexlify(randomBytes(32))
    const subject = newSubject()
    const payer = Wallet.createRandom().address
    expect(await attestationOf(registry, claimHash)).toBeUndefined()
    await expect(attestClaim(registryContract(address, stranger), {claimHash, subject, payer})).rejects.toMatchObject({
      code: 'E_NOT_AUTHORIZED',
    })
    const attested = await attestClaim(registry, {claimHash, subject, payer})
    expect(BigInt(attested.gasUsed)).toBeLessThan(80_000n)
    expect(await attestationOf(registry, claimHash)).toMatchObject({payer, subject, attestedAt: expect.any(Number)})
    await expect(attestClaim(registry, {claimHash, subject, payer})).rejects.toMatchObject({code: 'E_CLAIM_ALREADY_ATTESTED', exitCode: 4})
  })

  it('no string, name or CID can go on chain: no function input or event field is a string or bytes of free length', () => {
    const abi = loadArtifact('ConsentRegistry').abi as Array<{type: string; name?: string; inputs?: Array<{type: string; name: string}>}>
    const free = abi
      .filter((item) => item.type === 'function' || item.type === 'event')
      .flatMap((item) =>
        (item.inputs ?? [])
          .filter(
            (input) =>
              input.type === 'string' ||
              (input.type === 'bytes' &&
                !(['grantScopedWithClasses', 'setRecipientFor'].includes(item.name ?? '') && input.name === 'signature')),
          )
          .map((input) => `${item.name}.${input.name}`),
      )
    expect(free).toEqual([])
  })
})
