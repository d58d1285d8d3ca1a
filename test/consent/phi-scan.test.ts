import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {JsonRpcProvider} from 'ethers'
import {CID} from 'multiformats/cid'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {collectPhi, loadSyntheaPatients, SYNTHEA_DIR} from '../deid/synthea.js'
import {initHome, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

type J = Record<string, unknown>
const MRN_SYSTEM = 'http://hospital.smarthealthit.org'

/**
 * Invariant of the chain (DESIGN §4): no transaction input and no event carries a patient
 * identifier, a name, a birth date or an object CID. Run a full scenario through the CLI, then
 * read back every byte the chain holds about it and look for every one of them.
 */
describe('the chain holds no PHI and no CID after a full scenario', () => {
  let t: TestHome
  const patients = loadSyntheaPatients()
  const mrns = patients.map((g) => {
    const p = g.resources.find((r) => r.resourceType === 'Patient') as unknown as {identifier: Array<{system: string; value: string}>}
    return `${MRN_SYSTEM}|${p.identifier.find((i) => i.system === MRN_SYSTEM)!.value}`
  })
  const cids: string[] = []
  const subjects: string[] = []
  let haystack: Buffer[] = []

  beforeAll(async () => {
    t = useTempHome()
    const ok = async (args: string[], exit = 0) => {
      const r = await runJson<J>(args)
      expect(r.exitCode, `${args.join(' ')}: ${JSON.stringify(r.envelope.error ?? {})}`).toBe(exit)
      return r.envelope.result
    }
    await initHome(t)
    await ok(['records', 'import', SYNTHEA_DIR, '--no-anchor'])
    await ok(['profile', 'create', 'clinic'])
    await ok(['profile', 'create', 'lab'])
    await ok(['profile', 'create', 'patient'])

    // Single grants, a share and a fetch, a revoke, a refused share.
    const [first, second, third] = mrns as [string, string, string]
    await ok([
      'consent',
      'grant',
      '--patient',
      first,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs,conditions,demographics',
      '--until',
      '30d',
    ])
    const shared = await ok(['records', 'share', '--patient', first, '--to', 'clinic', '--purpose', 'TREAT'])
    cids.push(shared.packageCid as string)
    await ok(['records', 'fetch', shared.packageCid as string, '--out', join(t.home, 'fetched.json'), '--profile', 'clinic'])
    await ok(['consent', 'revoke', '--patient', first, '--grantee', 'clinic'])
    await ok(['records', 'share', '--patient', first, '--to', 'clinic', '--purpose', 'TREAT'], 5)

    // A migration: every patient consents to research by lab.
    const csv = [
      'patient,grantee,purpose,classes,from,until',
      ...mrns.map((m) => `${m},lab,HRESCH,labs;conditions;demographics,2026-01-01,2030-01-01`),
    ].join('\n')
    writeFileSync(join(t.home, 'consents.csv'), `${csv}\n`)
    await ok(['consent', 'import', join(t.home, 'consents.csv'), '--no-anchor'])

    // A patient with their own wallet signs; the hospital relays.
    const controller = await ok(['consent', 'set-controller', '--patient', second, '--controller', 'patient'])
    await ok([
      'consent',
      'sign',
      '--profile',
      'patient',
      '--subject',
      controller.subject as string,
      '--grantee',
      'clinic',
      '--purpose',
      'TREAT',
      '--classes',
      'labs',
      '--until',
      '30d',
      '--out',
      join(t.home, 'signed.json'),
    ])
    await ok(['consent', 'submit', join(t.home, 'signed.json')])

    // Emergency access, an opt-out-free review, a research export, and anchors.
    const access = await ok([
      'consent',
      'break-glass',
      '--patient',
      third,
      '--grantee',
      'clinic',
      '--reason',
      'unconscious-on-arrival',
      '--hours',
      '2',
    ])
    await ok(['consent', 'review', access.accessId as string, '--approve'])
    await ok([
      'export',
      'research',
      '--grantee',
      'lab',
      '--purpose',
      'HRESCH',
      '--out',
      join(t.home, 'research'),
      '--format',
      'ndjson',
      '--k',
      '1',
    ])
    await ok(['audit', 'anchor'])

    const listed = await ok(['records', 'list'])
    for (const p of listed.patients as Array<{subject: string; objects: Array<{cid: string}>}>) {
      subjects.push(p.subject)
      for (const o of p.objects) cids.push(o.cid)
    }

    // Everything the chain holds: every transaction's input, every event's topics and data.
    const rpcUrl = (await ok(['node', 'status'])).rpcUrl as string
    const provider = new JsonRpcProvider(rpcUrl, undefined, {staticNetwork: true})
    const latest = await provider.getBlockNumber()
    const bytes = (hex: string) => Buffer.from(hex.slice(2), 'hex')
    for (let n = 0; n <= latest; n++) {
      const block = (await provider.send('eth_getBlockByNumber', [`0x${n.toString(16)}`, true])) as {transactions: Array<{input: string}>}
      for (const tx of block.transactions) haystack.push(bytes(tx.input))
    }
    const logs = (await provider.send('eth_getLogs', [{fromBlock: '0x0', toBlock: 'latest'}])) as Array<{data: string; topics: string[]}>
    for (const log of logs) haystack.push(bytes(log.data), ...log.topics.map(bytes))
    provider.destroy()
    haystack = [Buffer.concat(haystack)]
  }, 600_000)
  afterAll(async () => t.cleanup())

  const found = (needle: Buffer) => haystack[0]!.includes(needle)

  it('the scan sees the scenario: subject pseudonyms are on chain (and nothing else about the patient)', () => {
    expect(haystack[0]!.length).toBeGreaterThan(10_000)
    expect(subjects.length).toBe(patients.length)
    expect(subjects.every((s) => found(Buffer.from(s.slice(2), 'hex')))).toBe(true)
  })

  it('no identifier, name, address, telecom or birth date of any patient, in text or as bytes', () => {
    const needles = new Map(collectPhi(patients))
    for (const mrn of mrns) needles.set(mrn, 'patient key')
    for (const g of patients) {
      const birthDate = (g.resources.find((r) => r.resourceType === 'Patient') as J).birthDate as string
      needles.set(birthDate, 'birth date')
      needles.set(birthDate.replaceAll('-', ''), 'birth date (compact)')
    }
    expect(needles.size).toBeGreaterThan(patients.length * 5)
    const hits = [...needles].filter(([value]) => found(Buffer.from(value, 'utf8')) || found(Buffer.from(value, 'utf16le')))
    expect(hits).toEqual([])
  })

  it('no object or package CID, as text, as binary CID or as its digest', () => {
    expect(cids.length).toBeGreaterThan(patients.length)
    const hits = cids.filter((text) => {
      const cid = CID.parse(text)
      return found(Buffer.from(text, 'utf8')) || found(Buffer.from(cid.bytes)) || found(Buffer.from(cid.multihash.digest))
    })
    expect(hits).toEqual([])
  })
})
