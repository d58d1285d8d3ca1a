/**
 * The verifier trusts only its own roots (issue 18 item 1, issue 13): a forged log re-chained,
 * signed by another key and anchored on a registry the attacker deployed on the same chain must
 * fail for every party, not only the custodian; proofs carry a signed head; the unanchored tail is
 * said out loud; every tampering kind has a stable code and exit 4.
 */
import {appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {JsonRpcProvider, Wallet, type ContractTransactionResponse} from 'ethers'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  GENESIS,
  MerkleTable,
  appendAuditBatch,
  buildEntry,
  leafHash,
  lineHash,
  serializeEntry,
  signHead,
  treeHead,
  type AuditEntry,
  type AuditInput,
  type InclusionProofFile,
  type SignedHead,
} from '../../src/lib/audit/index.js'
import {deployRegistry, registryContract} from '../../src/lib/chain/registry.js'
import {TEST_PASSPHRASE, parseEnvelope, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

/** anvil's well-known development account #2: the attacker's own funded key on the same chain. */
const ATTACKER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a'

interface Verified {
  ok: boolean
  code?: string
  entries: number
  anchoredEntries: number
  unanchored: number
  anchors: number | null
  signers: string[]
  firstBadIndex?: number
  lastBadIndex?: number
  problem?: string
  checkedAgainst: {
    mode: string
    registry: string | null
    chainId: number | null
    block: number | null
    custodian: string[] | null
    custodianFrom: string | null
  }
}

interface Checked {
  ok: boolean
  code?: string
  onChain: boolean | null
  signer: string | null
  signerVerified: boolean
  anchor: {index: number; via: string} | null
  checkedAgainst: {mode: string; registry: string | null; block: number | null; custodian: string[] | null}
}

const input = (i: number): AuditInput => ({
  type: i % 3 === 0 ? 'key-release' : 'consent-decision',
  action: 'E',
  outcome: i % 4 === 0 ? 'denied' : 'success',
  actor: {address: '0x000000000000000000000000000000000000dEaD', profile: 'clinic'},
  subject: `0x${i.toString(16).padStart(64, '0')}`,
  purpose: 'TREAT',
})

const logFile = (dir: string): string => join(dir, 'log-000001.ndjson')
const readLines = (dir: string): string[] => readFileSync(logFile(dir), 'utf8').split('\n').filter(Boolean)
const readHeadLines = (dir: string): string[] => readFileSync(join(dir, 'heads.ndjson'), 'utf8').split('\n').filter(Boolean)

/** Re-chains entries as an attacker would: fresh seq and prev, so the hash chain alone passes. */
function rechain(lines: string[]): string[] {
  let prev = GENESIS
  return lines.map((line, i) => {
    const entry = JSON.parse(line) as AuditEntry
    const out = serializeEntry({...entry, seq: i, prev}).toString('utf8')
    prev = lineHash(Buffer.from(out))
    return out
  })
}

/** The attacker anchors on their own registry with plain ethers (no medctl code in the attack). */
async function attackerAnchor(
  wallet: Wallet,
  registry: string,
  size: number,
  root: string,
): Promise<{index: number; txHash: string; blockNumber: number}> {
  const contract = registryContract(registry, wallet)
  const tx = (await contract.getFunction('anchor').send(size, root)) as ContractTransactionResponse
  const receipt = await tx.wait()
  return {
    index: Number(await contract.getFunction('anchorCount').staticCall()) - 1,
    txHash: receipt?.hash ?? '',
    blockNumber: receipt?.blockNumber ?? 0,
  }
}

describe('audit: the verifier trusts only its own registry, chain and custodian', () => {
  let t: TestHome
  let logDir: string
  let lines: string[]
  let registry: string
  let rpcUrl: string
  let custodian: string
  let custodianKey: string
  let attackerRegistry: string
  let firstHead: number
  let secondHead: number
  const temps: string[] = []
  const temp = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'medctl-audit-bad-'))
    temps.push(dir)
    return dir
  }

  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    expect((await runJson(['profile', 'use', 'local'])).exitCode).toBe(0)
    logDir = join(t.home, 'data', 'audit')
    const paths = {auditDir: logDir}
    await appendAuditBatch(paths, [0, 1, 2].map(input))
    const a1 = await runJson<{size: number}>(['audit', 'anchor'])
    expect(a1.exitCode).toBe(0)
    firstHead = a1.envelope.result.size
    await appendAuditBatch(paths, [3, 4, 5, 6, 7, 8, 9, 10, 11].map(input))
    const a2 = await runJson<{size: number}>(['audit', 'anchor'])
    expect(a2.exitCode).toBe(0)
    secondHead = a2.envelope.result.size
    await appendAuditBatch(paths, [12, 13, 14].map(input))
    lines = readLines(logDir)
    const shown = await runJson<{address: string; chain: {registry: string; rpcUrl: string}}>(['profile', 'show', 'local'])
    registry = shown.envelope.result.chain.registry
    rpcUrl = shown.envelope.result.chain.rpcUrl
    custodian = shown.envelope.result.address
    custodianKey = parseEnvelope<{privateKey: string}>(
      runBin(['keys', 'export', '--yes', '--json'], {env: {...t.env, MEDCTL_PASSPHRASE: TEST_PASSPHRASE}}).stdout,
    ).result.privateKey
    expect(registry).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect(rpcUrl).toMatch(/^http/)
    const provider = new JsonRpcProvider(rpcUrl, 31337, {staticNetwork: true, cacheTimeout: -1})
    attackerRegistry = (await deployRegistry(new Wallet(ATTACKER_KEY, provider))).address
    provider.destroy()
  }, 300_000)

  afterAll(async () => {
    for (const dir of temps) rmSync(dir, {recursive: true, force: true})
    await t?.cleanup()
  })

  const copy = (mutate?: (lines: string[]) => string[], extra?: (dir: string) => void | Promise<void>) => async (): Promise<string> => {
    const dir = temp()
    cpSync(logDir, dir, {recursive: true})
    if (mutate) writeFileSync(logFile(dir), `${mutate([...lines]).join('\n')}\n`)
    await extra?.(dir)
    return dir
  }

  /** The attack of issue 18 item 1: entries removed, re-chained, heads by the attacker's key, anchored on the attacker's own registry. */
  async function forge(dir: string, remove: number[]): Promise<string> {
    const kept = rechain(lines.filter((_, i) => !remove.includes(i)))
    writeFileSync(logFile(dir), `${kept.join('\n')}\n`)
    rmSync(join(dir, 'state.json'), {force: true})
    const provider = new JsonRpcProvider(rpcUrl, 31337, {staticNetwork: true, cacheTimeout: -1})
    const attacker = new Wallet(ATTACKER_KEY, provider)
    // the attacker's own ConsentRegistry on the same chain (a fresh one per forgery)
    const theirRegistry = (await deployRegistry(attacker)).address
    const head = treeHead(dir)
    const signed = await signHead(attacker, {...head, time: new Date().toISOString(), chainId: 31337, registry: theirRegistry})
    const anchored = await attackerAnchor(attacker, theirRegistry, head.size, head.root)
    writeFileSync(
      join(dir, 'heads.ndjson'),
      `${JSON.stringify({...signed, anchor: {index: anchored.index, txHash: anchored.txHash, blockNumber: anchored.blockNumber}})}\n`,
    )
    provider.destroy()
    return theirRegistry
  }

  const verify = (dir: string, ...flags: string[]) => runJson<Verified>(['audit', 'verify', '--log', dir, ...flags])

  it('the intact log verifies and says what it checked against, and that the tail is not anchored', async () => {
    const r = await verify(logDir, '--profile', 'clinic')
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result).toMatchObject({
      ok: true,
      entries: lines.length,
      anchoredEntries: secondHead,
      unanchored: lines.length - secondHead,
      anchors: 2,
    })
    expect(r.envelope.result.signers).toEqual([custodian])
    expect(r.envelope.result.checkedAgainst).toMatchObject({mode: 'chain', registry, chainId: 31337, custodian: [custodian]})
    expect(r.envelope.result.checkedAgainst.custodianFrom).toMatch(/^registry (custodian\(\)|CUSTODIAN_ROLE)$/)
    expect(r.envelope.result.checkedAgainst.block).toBeGreaterThan(0)
    expect(r.envelope.warnings.join(' ')).toMatch(/not anchored/)
  })

  it('the human output names the signer, the registry, the chain, the block and the unanchored count', () => {
    const r = runBin(['audit', 'verify', '--profile', 'clinic'], {env: t.env})
    expect(r.status).toBe(0)
    expect(r.stdout).toContain(custodian)
    expect(r.stdout).toContain(registry)
    expect(r.stdout).toMatch(/chain 31337, block \d+/)
    expect(r.stdout).toMatch(/unanchored\s+3 /)
    expect(r.stderr).toMatch(/not anchored/)
  })

  it("ATTACK: a log with entries removed, re-chained, signed by another key and anchored on the attacker's registry fails under the clinic profile", async () => {
    const dir = await copy(undefined, async (d) => void (await forge(d, [3, 6, 9])))()
    const r = await verify(dir, '--profile', 'clinic')
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result.ok).toBe(false)
    expect(r.envelope.result.code).toBe('E_HEAD_WRONG_SIGNER')
    expect(r.envelope.result.checkedAgainst.registry).toBe(registry)
    expect(r.envelope.result.signers).toEqual([new Wallet(ATTACKER_KEY).address])
    // the same forged log, stripped of its heads, still fails against the real anchors
    rmSync(join(dir, 'heads.ndjson'))
    const stripped = await verify(dir, '--profile', 'clinic')
    expect(stripped.exitCode).toBe(4)
    expect(stripped.envelope.result.code).toMatch(/^E_AUDIT_(ALTERED|TRUNCATED)$/)
    expect(stripped.envelope.result.firstBadIndex).toBe(firstHead)
  })

  it('ATTACK: with only --rpc-url and --registry, from an empty home, the forged log fails too', async () => {
    let theirRegistry = ''
    const dir = await copy(undefined, async (d) => {
      theirRegistry = await forge(d, [4])
    })()
    const empty = temp()
    const r = runBin(['audit', 'verify', '--log', dir, '--rpc-url', rpcUrl, '--registry', registry, '--json'], {
      env: {...t.env, MEDCTL_HOME: empty},
    })
    expect(r.status).toBe(4)
    const envelope = parseEnvelope<Verified>(r.stdout)
    expect(envelope.result.code).toBe('E_HEAD_WRONG_SIGNER')
    expect(envelope.result.checkedAgainst).toMatchObject({registry, chainId: 31337})
    // what decides is the verifier's registry: naming the attacker's own makes it consistent (and says so)
    const theirs = runBin(['audit', 'verify', '--log', dir, '--rpc-url', rpcUrl, '--registry', theirRegistry, '--json'], {
      env: {...t.env, MEDCTL_HOME: empty},
    })
    expect(parseEnvelope<Verified>(theirs.stdout).result.checkedAgainst.custodian).toEqual([new Wallet(ATTACKER_KEY).address])
    // naming the real custodian with the attacker's registry still refuses the attacker's heads
    const pinned = runBin(
      ['audit', 'verify', '--log', dir, '--rpc-url', rpcUrl, '--registry', theirRegistry, '--custodian', custodian, '--json'],
      {env: {...t.env, MEDCTL_HOME: empty}},
    )
    expect(pinned.status).toBe(4)
    expect(parseEnvelope<Verified>(pinned.stdout).result.code).toBe('E_HEAD_WRONG_SIGNER')
  })

  it('no profile and no --rpc-url/--registry: a clear usage error, not E_UNEXPECTED', () => {
    const empty = temp()
    const r = runBin(['audit', 'verify', '--log', logDir, '--json'], {env: {...t.env, MEDCTL_HOME: empty}})
    expect(r.status).toBe(2)
    expect(parseEnvelope(r.stdout).error.code).toBe('E_NO_PROFILE')
  })

  it('--offline prints "not checked" for anchors; the signer is checked against --custodian', async () => {
    const r = await verify(logDir, '--offline', '--custodian', custodian)
    expect(r.exitCode).toBe(0)
    expect(r.envelope.result.anchors).toBeNull()
    expect(r.envelope.result.checkedAgainst.mode).toBe('offline')
    const human = runBin(['audit', 'verify', '--log', logDir, '--offline', '--custodian', custodian], {env: t.env})
    expect(human.stdout).toMatch(/anchors\s+not checked/)
    expect(human.stdout).not.toMatch(/anchors\s+0/)
  })

  it('a re-chained edit is reported at the first entry no intact anchor vouches for (edit at the anchored boundary is named exactly)', async () => {
    const dir = await copy((l) =>
      rechain(l.map((line, i) => (i === firstHead ? line.replace('"success"', '"denied"').replace('"TREAT"', '"HPAYMT"') : line))),
    )()
    const r = await verify(dir)
    expect(r.exitCode).toBe(4)
    expect(r.envelope.result).toMatchObject({ok: false, code: 'E_AUDIT_ALTERED', firstBadIndex: firstHead, lastBadIndex: secondHead - 1})
  })

  it('the consistency check between anchors fails for a rewritten segment even when the prefix root still matches', async () => {
    const dir = await copy((l) => rechain(l.map((line, i) => (i === secondHead - 2 ? line.replace('"TREAT"', '"HOPERAT"') : line))))()
    const r = await verify(dir)
    expect(r.envelope.result).toMatchObject({ok: false, code: 'E_AUDIT_ALTERED', firstBadIndex: firstHead})
    expect(r.envelope.result.problem).toMatch(/consistency proof/)
  })

  // ---------------------------------------------------------------- the corpus: tampered logs
  const otherKey = Wallet.createRandom()
  const logCorpus: Array<{name: string; make: () => Promise<string>; code: string; index?: number | (() => number); flags?: string[]}> = [
    {name: 'deleted entry', make: copy((l) => l.filter((_, i) => i !== 2)), code: 'E_AUDIT_MISSING_ENTRY', index: 2},
    {
      name: 'edited entry (not re-chained)',
      make: copy((l) => l.map((x, i) => (i === 5 ? x.replace('"TREAT"', '"HRESCH"') : x))),
      code: 'E_AUDIT_CHAIN_BROKEN',
      index: 5,
    },
    {
      name: 'reordered pair',
      make: copy((l) => [l[0], l[1], l[3], l[2], ...l.slice(4)] as string[]),
      code: 'E_AUDIT_MISSING_ENTRY',
      index: 2,
    },
    {
      name: 'inserted entry with a correct seq and prev',
      make: copy(
        (l) =>
          [
            l[0],
            l[1],
            serializeEntry(buildEntry(input(99), 2, lineHash(Buffer.from(l[1] as string)))).toString(),
            ...l.slice(2),
          ] as string[],
      ),
      code: 'E_AUDIT_INSERTED_ENTRY',
      index: 2,
    },
    {
      name: 'duplicated entry',
      make: copy((l) => [...l.slice(0, 5), l[4] as string, ...l.slice(5)]),
      code: 'E_AUDIT_INSERTED_ENTRY',
      index: 4,
    },
    {
      name: 'junk line in the log',
      make: copy((l) => l.map((x, i) => (i === 7 ? 'not json at all' : x))),
      code: 'E_AUDIT_BAD_ENTRY',
      index: 7,
    },
    {name: 'JSON that is not an entry', make: copy((l) => l.map((x, i) => (i === 7 ? '[1,2,3]' : x))), code: 'E_AUDIT_BAD_ENTRY', index: 7},
    {
      name: 'torn last line',
      make: copy(undefined, (d) => appendFileSync(logFile(d), '{"v":1,"seq":')),
      code: 'E_AUDIT_TORN_TAIL',
      index: () => lines.length,
    },
    {
      name: 'anchored part cut off (truncated below the newest anchor)',
      make: copy(
        (l) => l.slice(0, secondHead - 1),
        (d) => rmSync(join(d, 'state.json')),
      ),
      code: 'E_AUDIT_TRUNCATED',
      index: () => firstHead,
    },
    {name: 'unanchored tail cut off', make: copy((l) => l.slice(0, -2)), code: 'E_AUDIT_TAIL_TRUNCATED', index: () => lines.length - 2},
    {
      name: 'last (unanchored) entry edited',
      make: copy((l) => l.map((x, i) => (i === l.length - 1 ? x.replace('"success"', '"denied"').replace('"TREAT"', '"HPAYMT"') : x))),
      code: 'E_AUDIT_TAIL_ALTERED',
    },
    {
      name: 'unanchored tail edited (not re-chained)',
      make: copy((l) => l.map((x, i) => (i === l.length - 2 ? x.replace('"TREAT"', '"HPAYMT"') : x))),
      code: 'E_AUDIT_CHAIN_BROKEN',
      index: () => lines.length - 2,
    },
    {
      name: 're-chained edit in the first anchored segment',
      make: copy((l) => rechain(l.map((x, i) => (i === 1 ? x.replace('"TREAT"', '"HPAYMT"') : x)))),
      code: 'E_AUDIT_ALTERED',
      index: 0,
    },
    {name: 're-chained deletion', make: copy((l) => rechain(l.filter((_, i) => i !== 6))), code: 'E_AUDIT_ALTERED', index: () => firstHead},
    {
      name: 'junk line in heads.ndjson',
      make: copy(undefined, (d) => appendFileSync(join(d, 'heads.ndjson'), 'garbage{\n')),
      code: 'E_BAD_HEAD',
    },
    {
      name: 'head that is JSON but not a head',
      make: copy(undefined, (d) => appendFileSync(join(d, 'heads.ndjson'), '{"size":"12"}\n')),
      code: 'E_BAD_HEAD',
    },
    {
      name: 'forged head signature (garbage)',
      make: copy(undefined, (d) =>
        writeFileSync(
          join(d, 'heads.ndjson'),
          `${readHeadLines(d)
            .map((h, i) => (i === 0 ? JSON.stringify({...(JSON.parse(h) as SignedHead), signature: `0x${'ab'.repeat(65)}`}) : h))
            .join('\n')}\n`,
        ),
      ),
      code: 'E_HEAD_BAD_SIGNATURE',
    },
    {
      name: 'head signature deleted',
      make: copy(undefined, (d) =>
        writeFileSync(
          join(d, 'heads.ndjson'),
          `${readHeadLines(d)
            .map((h, i) => (i === 0 ? JSON.stringify({...(JSON.parse(h) as SignedHead), signature: undefined}) : h))
            .join('\n')}\n`,
        ),
      ),
      code: 'E_BAD_HEAD',
    },
    {
      name: 'head root edited after signing',
      make: copy(undefined, (d) =>
        writeFileSync(
          join(d, 'heads.ndjson'),
          `${readHeadLines(d)
            .map((h, i) => (i === 1 ? JSON.stringify({...(JSON.parse(h) as SignedHead), root: `0x${'00'.repeat(32)}`}) : h))
            .join('\n')}\n`,
        ),
      ),
      code: 'E_HEAD_BAD_SIGNATURE',
    },
    {
      name: 'head signed by another key',
      make: copy(undefined, async (d) => {
        const head = JSON.parse(readHeadLines(d)[1] as string) as SignedHead
        writeFileSync(
          join(d, 'heads.ndjson'),
          `${JSON.stringify(await signHead(otherKey as unknown as Wallet, {size: head.size, root: head.root, lastHash: head.lastHash, time: head.time, chainId: head.chainId, registry: head.registry}))}\n`,
        )
      }),
      code: 'E_HEAD_WRONG_SIGNER',
    },
    {
      name: 'head signed by the custodian for a foreign registry',
      make: copy(undefined, async (d) => {
        const head = JSON.parse(readHeadLines(d)[1] as string) as SignedHead
        appendFileSync(
          join(d, 'heads.ndjson'),
          `${JSON.stringify(await signHead(new Wallet(custodianKey), {size: head.size, root: head.root, lastHash: head.lastHash, time: head.time, chainId: head.chainId, registry: attackerRegistry}))}\n`,
        )
      }),
      code: 'E_HEAD_FOREIGN_REGISTRY',
    },
    {
      name: 'head signed by the custodian but never anchored',
      make: copy(undefined, async (d) => {
        const head = treeHead(d)
        appendFileSync(
          join(d, 'heads.ndjson'),
          `${JSON.stringify(await signHead(new Wallet(custodianKey), {...head, time: new Date().toISOString(), chainId: 31337, registry}))}\n`,
        )
      }),
      code: 'E_HEAD_NOT_ANCHORED',
    },
    {
      name: "forged log anchored on the attacker's registry (clinic profile)",
      make: copy(undefined, async (d) => void (await forge(d, [1, 2]))),
      code: 'E_HEAD_WRONG_SIGNER',
      flags: ['--profile', 'clinic'],
    },
    {
      name: 'unanchored tail under --require-anchored',
      make: copy(),
      code: 'E_AUDIT_UNANCHORED',
      index: () => secondHead,
      flags: ['--require-anchored'],
    },
    {
      name: 'offline with no custodian named (clinic profile)',
      make: copy(),
      code: 'E_SIGNER_UNVERIFIED',
      flags: ['--offline', '--profile', 'clinic'],
    },
    {
      name: 'offline with the wrong custodian named',
      make: copy(),
      code: 'E_HEAD_WRONG_SIGNER',
      flags: ['--offline', '--custodian', otherKey.address],
    },
  ]

  for (const c of logCorpus) {
    it(`bad log: ${c.name} → ${c.code}, exit 4`, async () => {
      const dir = await c.make()
      const r = await verify(dir, ...(c.flags ?? []))
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(4)
      expect(r.envelope.result.ok).toBe(false)
      expect(r.envelope.result.code).toBe(c.code)
      if (c.index !== undefined) expect(r.envelope.result.firstBadIndex).toBe(typeof c.index === 'function' ? c.index() : c.index)
    })
  }

  // ---------------------------------------------------------------- proofs
  const prove = async (index: number): Promise<InclusionProofFile> => {
    const r = await runJson<InclusionProofFile>(['audit', 'prove', String(index), '--out', '-'])
    expect(r.exitCode).toBe(0)
    const {out: _out, ...proof} = r.envelope.result as InclusionProofFile & {out?: string}
    return proof
  }
  const writeProof = (proof: unknown): string => {
    const file = join(temp(), 'proof.json')
    writeFileSync(file, JSON.stringify(proof))
    return file
  }
  const check = (file: string, ...flags: string[]) => runJson<Checked>(['audit', 'check-proof', file, ...flags])

  it('a real proof carries its signed head and checks under the clinic profile, from an empty home with flags, and offline with --custodian', async () => {
    const proof = await prove(1)
    expect(proof.head?.size).toBe(firstHead)
    expect(proof.consistency?.size).toBe(secondHead)
    const file = writeProof(proof)
    const clinic = await check(file, '--profile', 'clinic')
    expect(clinic.exitCode).toBe(0)
    expect(clinic.envelope.result).toMatchObject({ok: true, onChain: true, signer: custodian, signerVerified: true, anchor: {via: 'head'}})
    expect(clinic.envelope.result.checkedAgainst).toMatchObject({mode: 'chain', registry, custodian: [custodian]})
    const empty = temp()
    const flags = runBin(['audit', 'check-proof', file, '--rpc-url', rpcUrl, '--registry', registry, '--json'], {
      env: {...t.env, MEDCTL_HOME: empty},
    })
    expect(flags.status).toBe(0)
    expect(parseEnvelope<Checked>(flags.stdout).result.ok).toBe(true)
    const offline = runBin(['audit', 'check-proof', file, '--offline', '--custodian', custodian], {env: {...t.env, MEDCTL_HOME: empty}})
    expect(offline.status).toBe(0)
    expect(offline.stdout).toMatch(/anchor\s+not checked/)
    expect(offline.stderr).toMatch(/not checked against any anchor/)
  })

  it('a head that is not itself anchored checks by its consistency proof to an anchored one; without it, it is refused', async () => {
    const table = new MerkleTable()
    for (const line of lines) table.push(leafHash(Buffer.from(line)))
    const size = firstHead + 2
    const root = `0x${table.root(size).toString('hex')}`
    const head = await signHead(new Wallet(custodianKey), {
      size,
      root,
      lastHash: lineHash(Buffer.from(lines[size - 1] as string)),
      time: new Date().toISOString(),
      chainId: 31337,
      registry,
    })
    const hex = (h: Buffer): string => `0x${h.toString('hex')}`
    const proof: InclusionProofFile = {
      format: 'medctl-audit-proof/1',
      entry: lines[1] as string,
      index: 1,
      treeSize: size,
      root,
      leafHash: hex(leafHash(Buffer.from(lines[1] as string))),
      path: table.inclusionProof(1, size).map(hex),
      head,
      consistency: {
        size: secondHead,
        root: `0x${table.root(secondHead).toString('hex')}`,
        path: table.consistencyProof(size, secondHead).map(hex),
      },
    }
    const r = await check(writeProof(proof), '--profile', 'clinic')
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result.anchor?.via).toBe('consistency')
    const alone = await check(writeProof({...proof, consistency: undefined}), '--profile', 'clinic')
    expect(alone.exitCode).toBe(4)
    expect(alone.envelope.result.code).toBe('E_HEAD_NOT_ANCHORED')
  })

  it('an entry of the unanchored tail cannot be proven yet (E_ENTRY_NOT_ANCHORED, exit 2)', async () => {
    const r = await runJson(['audit', 'prove', String(lines.length - 1), '--out', '-'])
    expect(r.exitCode).toBe(2)
    expect(r.envelope.error.code).toBe('E_ENTRY_NOT_ANCHORED')
  })

  const attacker = new Wallet(ATTACKER_KEY)
  const handMade = async (signer: Wallet | undefined, reg = registry): Promise<InclusionProofFile> => {
    const entry = '{"forged":true}'
    const leaf = `0x${leafHash(Buffer.from(entry)).toString('hex')}`
    const base = {format: 'medctl-audit-proof/1' as const, entry, index: 0, treeSize: 1, root: leaf, leafHash: leaf, path: []}
    if (!signer) return base
    return {
      ...base,
      head: await signHead(signer, {
        size: 1,
        root: leaf,
        lastHash: lineHash(Buffer.from(entry)),
        time: new Date().toISOString(),
        chainId: 31337,
        registry: reg,
      }),
    }
  }
  const proofCorpus: Array<{name: string; make: () => Promise<unknown>; code: string; flags?: string[]}> = [
    {name: 'hand-made one-leaf proof with no head', make: () => handMade(undefined), code: 'E_PROOF_NO_HEAD'},
    {
      name: 'hand-made one-leaf proof with no head (offline)',
      make: () => handMade(undefined),
      code: 'E_PROOF_NO_HEAD',
      flags: ['--offline', '--custodian', '0x0000000000000000000000000000000000000001'],
    },
    {name: 'real proof with its head deleted', make: async () => ({...(await prove(2)), head: undefined}), code: 'E_PROOF_NO_HEAD'},
    {
      name: 'garbage head signature',
      make: async () => {
        const p = await prove(2)
        return {...p, head: {...p.head, signature: `0x${'12'.repeat(65)}`}}
      },
      code: 'E_HEAD_BAD_SIGNATURE',
    },
    {
      name: 'garbage head signature (offline)',
      make: async () => {
        const p = await prove(2)
        return {...p, head: {...p.head, signature: '0xdeadbeef'}}
      },
      code: 'E_HEAD_BAD_SIGNATURE',
      flags: ['--offline', '--custodian', '0x0000000000000000000000000000000000000001'],
    },
    {
      name: 'head signature deleted',
      make: async () => {
        const p = await prove(2)
        return {...p, head: {...p.head, signature: undefined}}
      },
      code: 'E_PROOF_MALFORMED',
    },
    {
      name: 'wrong sibling in the path',
      make: async () => {
        const p = await prove(2)
        return {...p, path: p.path.map((h, i) => (i === 0 ? `0x${'11'.repeat(32)}` : h))}
      },
      code: 'E_PROOF_PATH_INVALID',
    },
    {
      name: 'sibling removed from the path',
      make: async () => {
        const p = await prove(2)
        return {...p, path: p.path.slice(1)}
      },
      code: 'E_PROOF_PATH_INVALID',
    },
    {name: 'index out of range', make: async () => ({...(await prove(2)), index: 1000}), code: 'E_PROOF_INDEX_OUT_OF_RANGE'},
    {name: 'index moved to another leaf', make: async () => ({...(await prove(2)), index: 1}), code: 'E_PROOF_PATH_INVALID'},
    {
      name: 'entry edited',
      make: async () => {
        const p = await prove(2)
        return {...p, entry: p.entry.replace('"TREAT"', '"HPAYMT"')}
      },
      code: 'E_PROOF_LEAF_MISMATCH',
    },
    {
      name: 'entry and leaf hash edited together',
      make: async () => {
        const p = await prove(2)
        const entry = p.entry.replace('"TREAT"', '"HPAYMT"')
        return {...p, entry, leafHash: `0x${leafHash(Buffer.from(entry)).toString('hex')}`}
      },
      code: 'E_PROOF_PATH_INVALID',
    },
    {
      name: 'path element not a hash',
      make: async () => {
        const p = await prove(2)
        return {...p, path: ['0xzz', ...p.path.slice(1)]}
      },
      code: 'E_PROOF_MALFORMED',
    },
    {
      name: 'head of another tree size',
      make: async () => {
        const p = await prove(2)
        const other = await prove(firstHead + 1)
        return {...p, head: other.head}
      },
      code: 'E_PROOF_HEAD_MISMATCH',
    },
    {name: 'head signed by another key', make: () => handMade(attacker), code: 'E_HEAD_WRONG_SIGNER'},
    {
      name: "head by the attacker, anchored on the attacker's registry",
      make: async () => {
        const provider = new JsonRpcProvider(rpcUrl, 31337, {staticNetwork: true, cacheTimeout: -1})
        const theirs = new Wallet(ATTACKER_KEY, provider)
        const theirRegistry = (await deployRegistry(theirs)).address
        const proof = await handMade(attacker, theirRegistry)
        const anchored = await attackerAnchor(theirs, theirRegistry, 1, proof.root)
        provider.destroy()
        return {
          ...proof,
          anchor: {
            chainId: 31337,
            registry: theirRegistry,
            index: anchored.index,
            txHash: anchored.txHash,
            blockNumber: anchored.blockNumber,
          },
        }
      },
      code: 'E_HEAD_WRONG_SIGNER',
      flags: ['--profile', 'clinic'],
    },
    {name: 'custodian-signed head that was never anchored', make: () => handMade(new Wallet(custodianKey)), code: 'E_HEAD_NOT_ANCHORED'},
    {
      name: 'custodian-signed head for a foreign registry',
      make: () => handMade(new Wallet(custodianKey), attackerRegistry),
      code: 'E_HEAD_FOREIGN_REGISTRY',
    },
    {
      name: 'consistency path tampered',
      make: async () => {
        const p = await prove(1)
        return {
          ...p,
          consistency: {...p.consistency, path: (p.consistency?.path ?? []).map((h, i) => (i === 0 ? `0x${'22'.repeat(32)}` : h))},
        }
      },
      code: 'E_AUDIT_INCONSISTENT',
    },
    {
      name: 'offline with no custodian named (clinic profile)',
      make: () => prove(2),
      code: 'E_SIGNER_UNVERIFIED',
      flags: ['--offline', '--profile', 'clinic'],
    },
    {
      name: 'offline with the wrong custodian named',
      make: () => prove(2),
      code: 'E_HEAD_WRONG_SIGNER',
      flags: ['--offline', '--custodian', attacker.address],
    },
  ]

  for (const c of proofCorpus) {
    it(`bad proof: ${c.name} → ${c.code}, exit 4`, async () => {
      const r = await check(writeProof(await c.make()), ...(c.flags ?? []))
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(4)
      expect(r.envelope.result.ok).toBe(false)
      expect(r.envelope.result.code).toBe(c.code)
    })
  }

  it('not a proof at all: usage error E_BAD_PROOF, exit 2', async () => {
    const file = join(temp(), 'x.json')
    writeFileSync(file, 'nope')
    const r = await check(file)
    expect(r.exitCode).toBe(2)
    expect(r.envelope.error.code).toBe('E_BAD_PROOF')
  })
})
