import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Contract, JsonRpcProvider, Wallet} from 'ethers'
import {ANVIL_DEV_KEYS, rpcCall} from '../../src/lib/chain/anvil.js'
import {loadArtifact} from '../../src/lib/chain/artifact.js'
import {loadDefinitions, validateFhir, type FhirResource} from '../../src/lib/fhir/index.js'
import {repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'

interface SubmitResult {
  consentId: string
  txHash: string | null
  noop: boolean
  signer: string
  signedBy: string
}

describe("a patient signs offline, a relayer submits; consents export as FHIR with the chain's status", () => {
  let t: TestHome
  let alice: string
  let subject: string
  let aliceConsent: string
  let selfConsent: string
  let g2Consent: string

  const sign = async (profile: string, out: string, extra: string[] = [], purpose = 'TREAT') => {
    const r = await runJson<{consentId: string}>([
      'consent',
      'sign',
      '--profile',
      profile,
      '--subject',
      subject,
      '--grantee',
      'clinic',
      '--purpose',
      purpose,
      '--classes',
      'labs,vitals',
      '--until',
      '30d',
      '--out',
      out,
      ...extra,
    ])
    expect(r.exitCode).toBe(0)
    return r.envelope.result.consentId
  }

  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    alice = (await runJson<{address: string}>(['profile', 'create', 'alice'])).envelope.result.address
    expect((await runJson(['profile', 'create', 'mallory'])).exitCode).toBe(0)
    loadDefinitions()
  }, 120_000)
  afterAll(async () => t.cleanup())

  it('set-controller links the patient to their wallet and returns the subject they sign with', async () => {
    const r = await runJson<{subject: string; controller: string}>(['consent', 'set-controller', '--patient', P, '--controller', 'alice'])
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result.controller).toBe(alice)
    subject = r.envelope.result.subject
    expect(subject).toMatch(/^0x[0-9a-f]{64}$/)
    const audit = await runJson<{entries: Array<{subject?: string}>}>(['audit', 'show', '--action', 'controller'])
    expect(audit.envelope.result.entries).toEqual([expect.objectContaining({subject})])
  })

  it("the controller's signed grant is relayed by the custodian: Permit, recorded as signed by the controller", async () => {
    const file = join(t.home, 'alice-grant.json')
    aliceConsent = await sign('alice', file)
    const signed = JSON.parse(readFileSync(file, 'utf8')) as {signer: string; terms: {consent: {patient: {identifier: {value: string}}}}}
    expect(signed.signer).toBe(alice)
    // The file carries the pseudonym, never the patient's identifier.
    expect(readFileSync(file, 'utf8')).not.toContain('MRN-0001')
    expect(signed.terms.consent.patient.identifier.value).toBe(subject)

    const r = await runJson<SubmitResult>(['consent', 'submit', file])
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result).toMatchObject({consentId: aliceConsent, signer: alice, signedBy: 'controller', noop: false})
    const check = await runJson<{decision: string; consentId: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
    ])
    expect(check.envelope.result).toMatchObject({decision: 'Permit', consentId: aliceConsent})
    const list = await runJson<{consents: Array<{consentId: string; signedBy: string}>}>(['consent', 'list', '--patient', P])
    expect(list.envelope.result.consents).toContainEqual(expect.objectContaining({consentId: aliceConsent, signedBy: 'controller'}))

    const again = await runJson<SubmitResult>(['consent', 'submit', file])
    expect(again.envelope.result).toMatchObject({consentId: aliceConsent, noop: true, txHash: null})
  })

  it("refuses a stranger's signature, an altered file and a file signed for another chain", async () => {
    const mallory = join(t.home, 'mallory-grant.json')
    await sign('mallory', mallory)
    const forged = await runJson(['consent', 'submit', mallory])
    expect(forged.exitCode).toBe(1)
    expect(forged.envelope.error.code).toBe('E_INVALID_SIGNER')

    const good = join(t.home, 'alice-grant-2.json')
    await sign('alice', good, [], 'HOPERAT')
    const altered = JSON.parse(readFileSync(good, 'utf8')) as {grant: {classes: number}; domain: {chainId: number}}
    altered.grant.classes = 0xfff
    writeFileSync(join(t.home, 'altered.json'), JSON.stringify(altered))
    expect((await runJson(['consent', 'submit', join(t.home, 'altered.json')])).envelope.error.code).toBe('E_INVALID_SIGNER')

    const otherChain = JSON.parse(readFileSync(good, 'utf8')) as {domain: {chainId: number}}
    otherChain.domain.chainId = 1
    writeFileSync(join(t.home, 'other-chain.json'), JSON.stringify(otherChain))
    const wrong = await runJson(['consent', 'submit', join(t.home, 'other-chain.json')])
    expect(wrong.exitCode).toBe(2)
    expect(wrong.envelope.error.code).toBe('E_WRONG_CHAIN')

    const expired = join(t.home, 'expired.json')
    await sign('alice', expired, ['--deadline', '2020-01-01'])
    expect((await runJson(['consent', 'submit', expired])).envelope.error.code).toBe('E_SIGNATURE_EXPIRED')

    expect((await runJson(['consent', 'submit', join(t.home, 'nothing.json')])).envelope.error.code).toBe('E_NO_INPUT')
  })

  it('a revoked grant cannot be submitted again (exit 5)', async () => {
    expect((await runJson(['consent', 'revoke', aliceConsent])).exitCode).toBe(0)
    const r = await runJson(['consent', 'submit', join(t.home, 'alice-grant.json')])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.error.code).toBe('E_CONSENT_REVOKED')
  })

  it("the revoked grant never comes back: after a narrower G2, G1's signature sent straight to the contract by any funded account is refused", async () => {
    const g2File = join(t.home, 'alice-g2.json')
    const r2 = await runJson<{consentId: string}>([
      'consent',
      'sign',
      '--profile',
      'alice',
      '--subject',
      subject,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
      '--out',
      g2File,
    ])
    expect((await runJson<SubmitResult>(['consent', 'submit', g2File])).envelope.result).toMatchObject({
      consentId: r2.envelope.result.consentId,
      noop: false,
    })
    g2Consent = r2.envelope.result.consentId

    // Raw ethers, no medctl code in the way: a funded stranger replays G1.
    const g1 = JSON.parse(readFileSync(join(t.home, 'alice-grant.json'), 'utf8')) as {
      grant: {
        subject: string
        epoch: number
        grantee: string
        purpose: number
        classes: number
        notBefore: number
        notAfter: number
        termsHash: string
        nonce: string
        deadline: number
      }
      signature: string
    }
    const rpcUrl = (await runJson<{rpcUrl: string}>(['node', 'status'])).envelope.result.rpcUrl
    const registryAddress = (await runJson<{chain: {registry: string}}>(['profile', 'show'])).envelope.result.chain.registry
    const provider = new JsonRpcProvider(rpcUrl, undefined, {staticNetwork: true})
    try {
      const raw = new Contract(registryAddress, loadArtifact('ConsentRegistry').abi as never, new Wallet(ANVIL_DEV_KEYS[1], provider))
      const g = g1.grant
      const tuple = [g.subject, g.epoch, g.grantee, g.purpose, g.classes, g.notBefore, g.notAfter, g.termsHash, BigInt(g.nonce), g.deadline]
      const sent = await raw
        .getFunction('grantScopedWithClasses')
        .send(tuple, g1.signature)
        .then(
          () => undefined,
          (error: {data?: string}) => error,
        )
      expect(sent && raw.interface.parseError(sent.data ?? '0x')?.name).toBe('ConsentSuperseded')
    } finally {
      provider.destroy()
    }
    const vitals = await runJson<{decision: string; reason: string; consentId: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'vitals',
    ])
    expect(vitals.exitCode).toBe(5)
    expect(vitals.envelope.result).toMatchObject({decision: 'Deny', reason: 'ClassNotCovered', consentId: g2Consent})
    const share = await runJson(['records', 'share', '--patient', P, '--to', 'clinic', '--purpose', 'TREAT', '--classes', 'vitals'])
    expect(share.exitCode).toBe(5)
    expect(share.envelope.error.code).toBe('E_ACCESS_DENIED')
    const resubmit = await runJson(['consent', 'submit', join(t.home, 'alice-grant.json')])
    expect(resubmit.exitCode).toBe(5)
    expect(resubmit.envelope.error.code).toMatch(/E_CONSENT_REVOKED|E_CONSENT_SUPERSEDED/)
  })

  it('a grant relayed by the patient themself is valid; the custodian exports it rebuilt from the chain', async () => {
    const file = join(t.home, 'alice-self.json')
    const consentId = await runJson<{consentId: string}>([
      'consent',
      'sign',
      '--profile',
      'alice',
      '--subject',
      subject,
      '--grantee',
      'mallory',
      '--purpose',
      'HRESCH',
      '--classes',
      'labs',
      '--until',
      '90d',
      '--out',
      file,
    ])
    const r = await runJson<SubmitResult>(['consent', 'submit', file, '--profile', 'alice'])
    expect(r.envelope.result).toMatchObject({consentId: consentId.envelope.result.consentId, signedBy: 'controller', noop: false})
    selfConsent = consentId.envelope.result.consentId
  })

  it('export: valid FHIR R4 Consents, status from the chain (revoked and expired are inactive), terms checked', async () => {
    // A custodian grant that expires: move the chain's clock past it.
    const short = await runJson<{consents: Array<{consentId: string}>}>([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      `0x${'44'.repeat(20)}`,
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '1h',
    ])
    expect(short.exitCode).toBe(0)
    const custodianGrant = await runJson<{consents: Array<{consentId: string; replaced?: string}>}>([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
    ])
    const rpcUrl = (await runJson<{rpcUrl: string}>(['node', 'status'])).envelope.result.rpcUrl
    await rpcCall(rpcUrl, 'evm_increaseTime', [7200])
    await rpcCall(rpcUrl, 'evm_mine', [])

    const out = join(t.home, 'consents.ndjson')
    const r = await runJson<{exported: number; active: number; inactive: number; withTerms: number; withoutTerms: number}>([
      'consent',
      'export',
      '--format',
      'fhir',
      '--out',
      out,
    ])
    expect(r.exitCode).toBe(0)
    const resources = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as FhirResource & {
            id: string
            status: string
            meta: {tag: Array<{code: string}>}
            patient: {identifier: {system: string; value: string}}
          },
      )
    expect(resources).toHaveLength(r.envelope.result.exported)
    for (const resource of resources) expect(validateFhir(resource)).toBeUndefined()

    const byId = new Map(resources.map((c) => [`0x${c.id}`, c]))
    const status = (id: string) => {
      const c = byId.get(id.toLowerCase())
      return [c?.status, c?.meta.tag[0]?.code]
    }
    expect(status(aliceConsent)).toEqual(['inactive', 'revoked'])
    expect(status(short.envelope.result.consents[0]?.consentId as string)).toEqual(['inactive', 'expired'])
    expect(status(custodianGrant.envelope.result.consents[0]?.consentId as string)).toEqual(['active', 'active'])
    // The custodian's TREAT grant to the clinic replaced the patient's G2 (same purpose), reported as such.
    expect(custodianGrant.envelope.result.consents[0]?.replaced).toBe(g2Consent.toLowerCase())
    expect(status(g2Consent)).toEqual(['inactive', 'superseded'])
    // Custodian grants keep the patient's identifier; patient-signed ones name the pseudonym.
    expect(byId.get((custodianGrant.envelope.result.consents[0]?.consentId as string).toLowerCase())?.patient.identifier.value).toBe(
      'MRN-0001',
    )
    expect(byId.get(aliceConsent.toLowerCase())?.patient.identifier).toEqual({system: 'urn:medctl:subject', value: subject})
    // Alice's self-relayed grant is not in the custodian's vault: rebuilt from the chain.
    expect(r.envelope.result.withoutTerms).toBe(1)
    expect(r.envelope.result).toMatchObject({active: 2, inactive: 3})

    // Stdout mode writes the same resources; the summary goes to stderr.
    const piped = runBin(['consent', 'export', '--out', '-'], {env: t.env})
    expect(piped.status).toBe(0)
    expect(piped.stdout.trim().split('\n')).toHaveLength(resources.length)
    expect(piped.stderr).toContain('exported')
  })

  it('the patient revokes and opts out from their own wallet; a stranger cannot', async () => {
    expect((await runJson(['consent', 'revoke', selfConsent, '--profile', 'alice'])).exitCode).toBe(0)
    const stranger = await runJson(['consent', 'opt-out', '--profile', 'mallory', '--subject', subject, '--purpose', 'TREAT'])
    expect(stranger.exitCode).toBe(1)
    expect(stranger.envelope.error.code).toBe('E_NOT_AUTHORIZED')

    const out = await runJson<{purposes: string[]}>([
      'consent',
      'opt-out',
      '--profile',
      'alice',
      '--subject',
      subject,
      '--purpose',
      'TREAT',
    ])
    expect(out.exitCode).toBe(0)
    expect(out.envelope.result.purposes).toEqual(['TREAT'])
    const check = await runJson<{decision: string; reason: string}>([
      'consent',
      'check',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
    ])
    expect(check.exitCode).toBe(5)
    expect(check.envelope.result).toMatchObject({decision: 'Deny', reason: 'OptedOut'})
    const refused = await runJson([
      'consent',
      'grant',
      '--patient',
      P,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
    ])
    expect(refused.exitCode).toBe(5)
    expect(refused.envelope.error.code).toBe('E_OPTED_OUT')
    const audit = await runJson<{entries: Array<{type: string}>}>(['audit', 'show', '--action', 'opt-out'])
    expect(audit.envelope.result.entries).toHaveLength(1)
  })

  it('a revoke-all voids grants signed before it: an unsent signed file can no longer be submitted', async () => {
    expect((await runJson(['consent', 'revoke', '--patient', P, '--all'])).exitCode).toBe(0)
    const r = await runJson(['consent', 'submit', join(t.home, 'alice-grant-2.json')])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.error.code).toBe('E_CONSENT_REVOKED')
    // Signed in the new epoch, the same grant is accepted.
    const file = join(t.home, 'alice-grant-3.json')
    await sign('alice', file, [], 'HOPERAT')
    expect((await runJson<SubmitResult>(['consent', 'submit', file])).envelope.result).toMatchObject({signedBy: 'controller', noop: false})
  })
})
