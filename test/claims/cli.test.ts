import {cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'
import {claimDigest, recoverSigner, signWithFreshKey} from './eip712-noble.js'

const SAMPLE = join(repoRoot, 'data', 'samples', 'synthea-r4', 'Carolee951_Sanford861_d88f994a-5efa-421d-9c40-5f116d2114a6.json')
const P = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

interface Attested {
  claims: Array<{claim: string; status: string; claimHash: string; supporting: number; file: string}>
  attested: number
  duplicates: number
}
interface Verified {
  claims: Array<{claim: string; status: string; differs?: string[]; subject?: string; signature?: string; reason?: string}>
  summary: Record<string, number>
  report: string
  checkedAgainst: {registry: string; payer: string; chainId: number; custodian: string}
}

describe('claims attest / verify through the CLI (embedded chain, Synthea claims)', () => {
  let t: TestHome
  let work: string
  let out: string
  let first: Attested
  beforeAll(async () => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-claims-'))
    out = join(work, 'attestations')
    await initHome(t)
    expect((await runJson(['records', 'import', SAMPLE, '--no-anchor'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'create', 'payer'])).exitCode).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          P,
          '--grantee',
          'payer',
          '--purpose',
          'HPAYMT',
          '--classes',
          'claims',
          '--until',
          '30d',
        ])
      ).exitCode,
    ).toBe(0)
    const r = await runJson<Attested>(['claims', 'attest', '--patient', P, '--payer', 'payer', '--out', out])
    expect(r.exitCode).toBe(0)
    first = r.envelope.result
  }, 180_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(work, {recursive: true, force: true})
  })

  it('attests every Claim of the record with its supporting resources; files hold the claim and hashes only', () => {
    expect(first.attested).toBe(17)
    expect(first.claims.every((c) => c.status === 'Attested' && /^0x[0-9a-f]{64}$/.test(c.claimHash))).toBe(true)
    expect(first.claims.some((c) => c.supporting >= 3)).toBe(true)
    const file = JSON.parse(readFileSync(first.claims[0]?.file as string, 'utf8')) as {
      claim: {resourceType: string}
      digest: {supporting: Record<string, string>}
    }
    expect(file.claim.resourceType).toBe('Claim')
    expect(Object.values(file.digest.supporting).every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true)
    expect(JSON.stringify(file)).not.toContain('"resourceType":"Encounter"')
  })

  it('attesting again reports Duplicate and sends nothing', async () => {
    const again = await runJson<Attested>([
      'claims',
      'attest',
      '--patient',
      P,
      '--claim',
      (first.claims[0]?.claim as string).slice(6),
      '--payer',
      'payer',
      '--out',
      out,
    ])
    expect(again.exitCode).toBe(0)
    expect(again.envelope.result.claims.map((c) => c.status)).toEqual(['Duplicate'])
  })

  it('the payer verifies all 17 (exit 0), against its own registry', async () => {
    const r = await runJson<Verified>(['claims', 'verify', out, '--profile', 'payer'])
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result.summary).toMatchObject({Verified: 17, Altered: 0, NotAttested: 0})
    const home = readFileSync(r.envelope.result.report, 'utf8')
    expect(home).not.toContain('Claim/')
    const audit = await runJson<{entries: Array<{type: string; detail?: {kind?: string}}>}>(['audit', 'show', '--profile', 'payer'])
    expect(audit.envelope.result.entries.filter((e) => e.detail?.kind === 'claim-verify').length).toBeGreaterThanOrEqual(17)
  })

  it("each attestation file carries the custodian's EIP-712 signature, which a second library (@noble) recovers to the registry's custodian", async () => {
    const r = await runJson<Verified>(['claims', 'verify', out, '--profile', 'payer'])
    const {registry, chainId, payer, custodian} = r.envelope.result.checkedAgainst
    expect(r.envelope.result.claims.every((c) => c.signature === 'valid')).toBe(true)
    const custodianProfile = await runJson<{address: string}>(['profile', 'show'])
    expect(custodian.toLowerCase()).toBe(custodianProfile.envelope.result.address.toLowerCase())
    for (const name of readdirSync(out)) {
      const file = JSON.parse(readFileSync(join(out, name), 'utf8')) as {
        v: number
        claimHash: string
        subject: string
        signature: {scheme: string; value: string}
      }
      expect(file).toMatchObject({v: 2, signature: {scheme: 'EIP-712'}})
      // the typed data rebuilt from the payer's own chain id, registry and address, not the file's
      expect(
        recoverSigner(claimDigest({chainId, registry, payer, claimHash: file.claimHash, subject: file.subject}), file.signature.value),
      ).toBe(custodian.toLowerCase())
      // the signature binds the payer and the registry: for any other, it recovers to someone else
      expect(
        recoverSigner(
          claimDigest({chainId, registry, payer: custodian, claimHash: file.claimHash, subject: file.subject}),
          file.signature.value,
        ),
      ).not.toBe(custodian.toLowerCase())
      expect(
        recoverSigner(
          claimDigest({chainId: chainId + 1, registry, payer, claimHash: file.claimHash, subject: file.subject}),
          file.signature.value,
        ),
      ).not.toBe(custodian.toLowerCase())
    }
  })

  it('a hostile attestation file (signed by another key, or unsigned) is NotAttested, exit 4, though its hash is on chain', async () => {
    const dir = join(work, 'hostile')
    mkdirSync(dir)
    const files = readdirSync(out).sort()
    const ok = await runJson<Verified>(['claims', 'verify', out, '--profile', 'payer'])
    const {registry, chainId, payer} = ok.envelope.result.checkedAgainst
    const other = JSON.parse(readFileSync(join(out, files[3] as string), 'utf8')) as {
      claimHash: string
      subject: string
      custodian: string
      signature: {value: string; signer: string}
    }
    const forger = signWithFreshKey(claimDigest({chainId, registry, payer, claimHash: other.claimHash, subject: other.subject}))
    // the forger even claims to be the custodian in the file's own fields: never trusted
    writeFileSync(join(dir, 'forged.json'), JSON.stringify({...other, signature: {...other.signature, value: forger.signature}}))
    const unsigned = JSON.parse(readFileSync(join(out, files[4] as string), 'utf8')) as Record<string, unknown>
    delete unsigned.signature
    writeFileSync(join(dir, 'unsigned.json'), JSON.stringify(unsigned))
    cpSync(join(out, files[5] as string), join(dir, 'genuine.json'))
    const r = await runJson<Verified>(['claims', 'verify', dir, '--profile', 'payer'])
    expect(r.exitCode).toBe(4)
    const bySignature = Object.fromEntries(r.envelope.result.claims.map((c) => [c.signature, c.status]))
    expect(bySignature).toEqual({invalid: 'NotAttested', missing: 'NotAttested', valid: 'Verified'})
    expect(r.envelope.result.claims.find((c) => c.signature === 'invalid')?.reason).toMatch(/signature/)
  })

  it('an altered claim is caught with the element named; a forged digest is NotAttested; duplicates are flagged; exit 4', async () => {
    const dir = join(work, 'tampered')
    mkdirSync(dir)
    const files = readdirSync(out).sort()
    const original = JSON.parse(readFileSync(join(out, files[0] as string), 'utf8')) as {
      claim: {total: {value: number}; id: string}
      digest: {elements: Record<string, string>}
    }
    // 1. the payer's copy of the claim differs (the total), checked against the attestation file
    cpSync(join(out, files[0] as string), join(dir, 'a.json'))
    const altered = structuredClone(original.claim)
    altered.total.value += 100
    writeFileSync(join(dir, 'billed.ndjson'), `${JSON.stringify(altered)}\n`)
    // 2. an attestation file whose digest was edited: its hash is on no chain
    const forged = JSON.parse(readFileSync(join(out, files[1] as string), 'utf8')) as {digest: {elements: Record<string, string>}}
    const path = Object.keys(forged.digest.elements)[0] as string
    forged.digest.elements[path] = '0'.repeat(64)
    writeFileSync(join(dir, 'b.json'), JSON.stringify(forged))
    // 3. the same claim twice
    const dup = JSON.parse(readFileSync(join(out, files[2] as string), 'utf8')) as {claim: unknown}
    cpSync(join(out, files[2] as string), join(dir, 'c.json'))
    writeFileSync(join(dir, 'd.ndjson'), `${JSON.stringify(dup.claim)}\n${JSON.stringify(dup.claim)}\n`)
    const r = await runJson<Verified>(['claims', 'verify', dir, '--profile', 'payer'])
    expect(r.exitCode).toBe(4)
    expect(r.envelope.status).toBe('failed')
    const byStatus = (s: string) => r.envelope.result.claims.filter((c) => c.status === s)
    expect(byStatus('Altered')).toHaveLength(1)
    expect(byStatus('Altered')[0]?.differs).toEqual(['Claim.total.value'])
    expect(byStatus('NotAttested')).toHaveLength(1)
    expect(byStatus('Duplicate')).toHaveLength(1)
    expect(byStatus('Verified')).toHaveLength(1)
  })

  it('supplied supporting resources are checked: an altered Encounter is named', async () => {
    const dir = join(work, 'supporting')
    mkdirSync(dir)
    const shown = join(work, 'record.json')
    expect((await runJson(['records', 'show', '--patient', P, '--out', shown])).exitCode).toBe(0)
    const bundle = JSON.parse(readFileSync(shown, 'utf8')) as {
      entry: Array<{resource: {resourceType: string; id: string; status?: string}}>
    }
    const att = readdirSync(out).map(
      (f) => JSON.parse(readFileSync(join(out, f), 'utf8')) as {claim: {id: string}; digest: {supporting: Record<string, string>}},
    )
    const target = att.find((a) => Object.keys(a.digest.supporting).some((ref) => ref.startsWith('Encounter/'))) as (typeof att)[number]
    const encounterRef = Object.keys(target.digest.supporting).find((ref) => ref.startsWith('Encounter/')) as string
    const supporting = bundle.entry
      .map((e) => e.resource)
      .filter((r) => Object.keys(target.digest.supporting).includes(`${r.resourceType}/${r.id}`))
    const claim = bundle.entry.map((e) => e.resource).find((r) => r.resourceType === 'Claim' && r.id === target.claim.id)
    // untouched: a Bundle of the claim and its supporting resources verifies with no attestation file at all
    writeFileSync(
      join(dir, 'ok.json'),
      JSON.stringify({resourceType: 'Bundle', type: 'collection', entry: [claim, ...supporting].map((resource) => ({resource}))}),
    )
    const ok = await runJson<Verified>(['claims', 'verify', join(dir, 'ok.json'), '--profile', 'payer'])
    expect(ok.envelope.result.claims.map((c) => c.status)).toEqual(['Verified'])
    // the Encounter edited: named, against the attestation file
    const edited = supporting.map((r) => (`${r.resourceType}/${r.id}` === encounterRef ? {...r, status: 'cancelled'} : r))
    writeFileSync(
      join(dir, 'bad.json'),
      JSON.stringify({resourceType: 'Bundle', type: 'collection', entry: [claim, ...edited].map((resource) => ({resource}))}),
    )
    const withAttestation = join(dir, 'att.json')
    writeFileSync(withAttestation, JSON.stringify(target))
    const bad = await runJson<Verified>(['claims', 'verify', join(dir, 'bad.json'), withAttestation, '--profile', 'payer'])
    expect(bad.exitCode).toBe(4)
    expect(bad.envelope.result.claims[0]).toMatchObject({status: 'Altered', differs: [encounterRef]})
  })

  it('without an active HPAYMT consent the payer gets NoConsent, exit 5', async () => {
    expect((await runJson(['consent', 'revoke', '--patient', P, '--grantee', 'payer', '--purpose', 'HPAYMT'])).exitCode).toBe(0)
    const r = await runJson<Verified>(['claims', 'verify', out, '--profile', 'payer'])
    expect(r.exitCode).toBe(5)
    expect(r.envelope.result.summary).toMatchObject({NoConsent: 17, Verified: 0})
  })
})
