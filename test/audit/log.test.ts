import {appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Wallet} from 'ethers'
import {afterAll, describe, expect, it} from 'vitest'
import {
  AuditLog,
  GENESIS,
  appendHead,
  lineHash,
  parseHeads,
  readHeads,
  serializeEntry,
  signHead,
  treeHead,
  verifyAuditLog,
  type AuditEntry,
  type AuditInput,
} from '../../src/lib/audit/index.js'
import {MedctlError} from '../../src/lib/core/errors.js'

const dirs: string[] = []
const fresh = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'medctl-audit-unit-'))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

const input = (i: number): AuditInput => ({
  type: 'fetch',
  action: 'R',
  outcome: 'success',
  actor: {address: '0x000000000000000000000000000000000000dEaD'},
  purpose: 'TREAT',
  detail: {n: i},
})
const custodian = Wallet.createRandom()
const registry = '0x00000000000000000000000000000000000000aa'

async function signedLog(sizes: number[], total: number): Promise<string> {
  const dir = fresh()
  const log = new AuditLog(dir)
  let written = 0
  for (const size of sizes) {
    log.append(Array.from({length: size - written}, (_, i) => input(written + i)))
    written = size
    appendHead(
      dir,
      await signHead(custodian as unknown as Wallet, {...treeHead(dir), time: '2026-01-01T00:00:00.000Z', chainId: 31337, registry}),
    )
  }
  log.append(Array.from({length: total - written}, (_, i) => input(written + i)))
  return dir
}

const lines = (dir: string): string[] => readFileSync(join(dir, 'log-000001.ndjson'), 'utf8').split('\n').filter(Boolean)
function rechain(dir: string, edit: (lines: string[]) => string[]): void {
  let prev = GENESIS
  const out = edit(lines(dir)).map((line, i) => {
    const text = serializeEntry({...(JSON.parse(line) as AuditEntry), seq: i, prev}).toString()
    prev = lineHash(Buffer.from(text))
    return text
  })
  writeFileSync(join(dir, 'log-000001.ndjson'), `${out.join('\n')}\n`)
  rmSync(join(dir, 'state.json'), {force: true})
}

describe('audit log internals', () => {
  it('a corrupt or empty state.json is a cache miss, never a failed append (issue 18 item 6)', () => {
    const dir = fresh()
    const log = new AuditLog(dir)
    log.append([input(0), input(1)])
    writeFileSync(join(dir, 'state.json'), '{not json')
    expect(log.append([input(2)])).toMatchObject({first: 2, size: 3})
    writeFileSync(join(dir, 'state.json'), '')
    expect(log.append([input(3)])).toMatchObject({first: 3, size: 4})
    writeFileSync(join(dir, 'state.json'), '{"size":"x"}')
    expect(log.size()).toBe(4)
    expect(verifyAuditLog(dir, {custodian: custodian.address}).ok).toBe(true)
  })

  it('a junk line in heads.ndjson: parseHeads names it, readHeads throws E_BAD_HEAD (exit 4), verify reports it', async () => {
    const dir = await signedLog([3], 5)
    appendFileSync(join(dir, 'heads.ndjson'), '{"size":\n')
    expect(parseHeads(dir).bad).toEqual([{line: 2, problem: 'not JSON'}])
    let error: unknown
    try {
      readHeads(dir)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MedctlError)
    expect((error as MedctlError).code).toBe('E_BAD_HEAD')
    expect((error as MedctlError).exitCode).toBe(4)
    expect(verifyAuditLog(dir, {custodian: custodian.address})).toMatchObject({ok: false, code: 'E_BAD_HEAD', exitCode: 4})
  })

  it('offline, heads are checkpoints: a re-chained edit at 6 with heads at 6 and 12 is reported at 6 (not 11)', async () => {
    const dir = await signedLog([6, 12], 14)
    rechain(dir, (l) => l.map((x, i) => (i === 6 ? x.replace('"TREAT"', '"HPAYMT"') : x)))
    const r = verifyAuditLog(dir, {custodian: custodian.address, registry, chainId: 31337})
    expect(r).toMatchObject({ok: false, code: 'E_AUDIT_ALTERED', firstBadIndex: 6, lastBadIndex: 11, anchoredEntries: 6, anchors: null})
  })

  it("without a custodian to check against, the heads' signer is unverified (no trust in the first head's signer)", async () => {
    const dir = await signedLog([4], 4)
    expect(verifyAuditLog(dir)).toMatchObject({ok: false, code: 'E_SIGNER_UNVERIFIED', signers: [custodian.address]})
    expect(verifyAuditLog(dir, {custodian: Wallet.createRandom().address})).toMatchObject({ok: false, code: 'E_HEAD_WRONG_SIGNER'})
    expect(verifyAuditLog(dir, {custodian: custodian.address, registry: '0x00000000000000000000000000000000000000bb'})).toMatchObject({
      ok: false,
      code: 'E_HEAD_FOREIGN_REGISTRY',
    })
    expect(verifyAuditLog(dir, {custodian: custodian.address, registry, chainId: 31337})).toMatchObject({
      ok: true,
      entries: 4,
      anchoredEntries: 4,
      unanchored: 0,
    })
  })

  it('the unanchored tail is counted, and --require-anchored refuses it', async () => {
    const dir = await signedLog([4], 9)
    expect(verifyAuditLog(dir, {custodian: custodian.address})).toMatchObject({ok: true, anchoredEntries: 4, unanchored: 5})
    expect(verifyAuditLog(dir, {custodian: custodian.address, requireAnchored: true})).toMatchObject({
      ok: false,
      code: 'E_AUDIT_UNANCHORED',
      firstBadIndex: 4,
      lastBadIndex: 8,
    })
  })

  it("online, anchors on the verifier's registry decide: a log whose anchors were never written there fails (head not anchored)", async () => {
    const dir = await signedLog([4], 4)
    expect(verifyAuditLog(dir, {custodian: custodian.address, anchors: []})).toMatchObject({
      ok: false,
      code: 'E_HEAD_NOT_ANCHORED',
      anchors: 0,
    })
    const head = readHeads(dir)[0]
    const anchors = [{index: 0, by: custodian.address, size: 4, root: head?.root as string, timestamp: 0}]
    expect(verifyAuditLog(dir, {custodian: custodian.address, anchors})).toMatchObject({ok: true, anchors: 1, anchoredEntries: 4})
    // the same anchor written by somebody else does not count
    expect(
      verifyAuditLog(dir, {
        custodian: custodian.address,
        anchors: [{...(anchors[0] as (typeof anchors)[0]), by: Wallet.createRandom().address}],
      }),
    ).toMatchObject({ok: false, code: 'E_HEAD_NOT_ANCHORED', anchors: 0})
  })
})
