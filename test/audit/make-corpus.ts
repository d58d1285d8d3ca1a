/**
 * Writes the static audit corpus under test/fixtures/bad/audit/ (run: npx tsx test/audit/make-corpus.ts).
 * Chain-free cases only: they are checked offline against a fixed test custodian key; the cases
 * that need anchors on a chain (foreign registries, unanchored heads) are generated in
 * test/audit/trust.test.ts against a real node.
 */
import {cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Wallet, keccak256, toUtf8Bytes} from 'ethers'
import {
  AuditLog,
  GENESIS,
  MerkleTable,
  appendHead,
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
import {repoRoot} from '../helpers/cli.js'

/** Test-only keys, derived from public strings: never secrets. */
export const CORPUS_CUSTODIAN = new Wallet(keccak256(toUtf8Bytes('medctl test corpus: audit custodian (not a secret)')))
const OTHER = new Wallet(keccak256(toUtf8Bytes('medctl test corpus: someone else (not a secret)')))
export const CORPUS_REGISTRY = '0x00000000000000000000000000000000000000Aa'
const FOREIGN_REGISTRY = '0x00000000000000000000000000000000000000Bb'

const out = join(repoRoot, 'test', 'fixtures', 'bad', 'audit')
const LOG = 'log-000001.ndjson'

interface Case {
  path: string
  kind: 'log' | 'proof'
  code: string | null
  exitCode: number
  note: string
  firstBadIndex?: number
  flags?: string[]
}

const input = (i: number): AuditInput => ({
  type: i % 3 === 0 ? 'key-release' : 'consent-decision',
  action: 'E',
  outcome: i % 4 === 0 ? 'denied' : 'success',
  actor: {address: '0x000000000000000000000000000000000000dEaD', profile: 'clinic'},
  subject: `0x${i.toString(16).padStart(64, '0')}`,
  purpose: 'TREAT',
})

function rechain(lines: string[]): string[] {
  let prev = GENESIS
  return lines.map((line, i) => {
    const text = serializeEntry({...(JSON.parse(line) as AuditEntry), seq: i, prev}).toString('utf8')
    prev = lineHash(Buffer.from(text))
    return text
  })
}

const head = (signer: Wallet, dir: string, registry = CORPUS_REGISTRY): Promise<SignedHead> =>
  signHead(signer, {...treeHead(dir), time: '2026-01-01T00:00:00.000Z', chainId: 31337, registry})
const hex = (h: Buffer): string => `0x${h.toString('hex')}`

async function main(): Promise<void> {
  rmSync(out, {recursive: true, force: true})
  mkdirSync(out, {recursive: true})
  const work = mkdtempSync(join(tmpdir(), 'medctl-corpus-'))
  const log = new AuditLog(work)
  log.append([0, 1, 2, 3].map(input))
  appendHead(work, await head(CORPUS_CUSTODIAN, work))
  log.append([4, 5, 6, 7, 8, 9].map(input))
  appendHead(work, await head(CORPUS_CUSTODIAN, work))
  log.append([10, 11, 12].map(input))
  const lines = readFileSync(join(work, LOG), 'utf8').split('\n').filter(Boolean)
  const heads = readFileSync(join(work, 'heads.ndjson'), 'utf8').split('\n').filter(Boolean)
  const state = (l: string[]) =>
    JSON.stringify({
      size: l.length,
      lastHash: lineHash(Buffer.from(l.at(-1) as string)),
      segment: LOG,
      bytes: Buffer.byteLength(`${l.join('\n')}\n`),
    })

  const cases: Case[] = []
  const logCase = async (
    name: string,
    c: Omit<Case, 'path' | 'kind'>,
    make: {lines?: string[]; heads?: string[]; state?: string | null; raw?: string},
  ): Promise<void> => {
    const dir = join(out, `log-${name}`)
    mkdirSync(dir)
    writeFileSync(join(dir, LOG), make.raw ?? `${(make.lines ?? lines).join('\n')}\n`)
    writeFileSync(join(dir, 'heads.ndjson'), `${(make.heads ?? heads).join('\n')}\n`)
    const st = make.state === undefined ? state(lines) : make.state
    if (st !== null) writeFileSync(join(dir, 'state.json'), st)
    cases.push({path: `log-${name}`, kind: 'log', ...c})
  }
  const editHead = (i: number, patch: Record<string, unknown>): string[] =>
    heads.map((h, j) => (j === i ? JSON.stringify({...(JSON.parse(h) as SignedHead), ...patch}) : h))

  await logCase(
    'valid',
    {code: null, exitCode: 0, note: 'control: the intact log (4 + 6 entries under signed heads, 3 in the unanchored tail)'},
    {},
  )
  await logCase(
    'deleted-entry',
    {code: 'E_AUDIT_MISSING_ENTRY', exitCode: 4, firstBadIndex: 2, note: 'entry 2 deleted'},
    {lines: lines.filter((_, i) => i !== 2)},
  )
  await logCase(
    'edited-entry',
    {code: 'E_AUDIT_CHAIN_BROKEN', exitCode: 4, firstBadIndex: 5, note: 'entry 5 edited, not re-chained'},
    {lines: lines.map((l, i) => (i === 5 ? l.replace('"TREAT"', '"HRESCH"') : l))},
  )
  await logCase(
    'reordered',
    {code: 'E_AUDIT_MISSING_ENTRY', exitCode: 4, firstBadIndex: 2, note: 'entries 2 and 3 swapped'},
    {lines: [lines[0], lines[1], lines[3], lines[2], ...lines.slice(4)] as string[]},
  )
  await logCase(
    'inserted',
    {code: 'E_AUDIT_INSERTED_ENTRY', exitCode: 4, firstBadIndex: 2, note: 'an entry inserted at 2 with a correct seq and prev'},
    {
      lines: [
        lines[0],
        lines[1],
        serializeEntry({...(JSON.parse(lines[2] as string) as AuditEntry), subject: `0x${'ee'.repeat(32)}`}).toString(),
        ...lines.slice(2),
      ] as string[],
    },
  )
  await logCase(
    'duplicated',
    {code: 'E_AUDIT_INSERTED_ENTRY', exitCode: 4, firstBadIndex: 4, note: 'entry 4 written twice'},
    {lines: [...lines.slice(0, 5), lines[4] as string, ...lines.slice(5)]},
  )
  await logCase(
    'junk-entry',
    {code: 'E_AUDIT_BAD_ENTRY', exitCode: 4, firstBadIndex: 7, note: 'a line that is not JSON'},
    {lines: lines.map((l, i) => (i === 7 ? 'not json' : l))},
  )
  await logCase(
    'not-an-entry',
    {code: 'E_AUDIT_BAD_ENTRY', exitCode: 4, firstBadIndex: 7, note: 'a line that is JSON but not an entry'},
    {lines: lines.map((l, i) => (i === 7 ? 'null' : l))},
  )
  await logCase(
    'torn-last-line',
    {code: 'E_AUDIT_TORN_TAIL', exitCode: 4, firstBadIndex: lines.length, note: 'a write cut short'},
    {raw: `${lines.join('\n')}\n{"v":1,"seq":`},
  )
  await logCase(
    'truncated-anchored',
    {code: 'E_AUDIT_TRUNCATED', exitCode: 4, firstBadIndex: 4, note: 'cut below the newest signed head (entries 4…9 unvouched)'},
    {lines: lines.slice(0, 8), state: null},
  )
  await logCase(
    'tail-cut',
    {
      code: 'E_AUDIT_TAIL_TRUNCATED',
      exitCode: 4,
      firstBadIndex: 11,
      note: "the last two (unanchored) entries removed; the appender's state says 13",
    },
    {lines: lines.slice(0, 11)},
  )
  await logCase(
    'tail-last-edited',
    {code: 'E_AUDIT_TAIL_ALTERED', exitCode: 4, note: 'the last (unanchored) entry edited: nothing chains to it'},
    {lines: lines.map((l, i) => (i === lines.length - 1 ? l.replace('"TREAT"', '"HPAYMT"') : l))},
  )
  await logCase(
    'rechained-edit',
    {
      code: 'E_AUDIT_ALTERED',
      exitCode: 4,
      firstBadIndex: 4,
      note: 'entry 4 edited and the chain recomputed: named from the first entry no intact head vouches for (4)',
    },
    {lines: rechain(lines.map((l, i) => (i === 4 ? l.replace('"TREAT"', '"HPAYMT"') : l))), state: null},
  )
  await logCase(
    'rechained-delete',
    {code: 'E_AUDIT_ALTERED', exitCode: 4, firstBadIndex: 4, note: 'entry 6 deleted and the chain recomputed'},
    {lines: rechain(lines.filter((_, i) => i !== 6)), state: null},
  )
  await logCase(
    'rechained-first-segment',
    {code: 'E_AUDIT_ALTERED', exitCode: 4, firstBadIndex: 0, note: 'entry 1 edited and the chain recomputed'},
    {lines: rechain(lines.map((l, i) => (i === 1 ? l.replace('"TREAT"', '"HPAYMT"') : l))), state: null},
  )
  await logCase(
    'heads-junk-line',
    {code: 'E_BAD_HEAD', exitCode: 4, note: 'a line of heads.ndjson that is not JSON (was E_UNEXPECTED)'},
    {heads: [...heads, 'garbage{']},
  )
  await logCase(
    'heads-not-a-head',
    {code: 'E_BAD_HEAD', exitCode: 4, note: 'a head line that is JSON but not a head'},
    {heads: [...heads, '{"size":"10"}']},
  )
  await logCase(
    'heads-garbage-signature',
    {code: 'E_HEAD_BAD_SIGNATURE', exitCode: 4, note: 'a head signature replaced with garbage'},
    {heads: editHead(0, {signature: `0x${'ab'.repeat(65)}`})},
  )
  await logCase(
    'heads-signature-deleted',
    {code: 'E_BAD_HEAD', exitCode: 4, note: 'a head signature deleted'},
    {heads: editHead(0, {signature: undefined})},
  )
  await logCase(
    'heads-root-edited',
    {code: 'E_HEAD_BAD_SIGNATURE', exitCode: 4, note: 'a head root edited after signing'},
    {heads: editHead(1, {root: `0x${'00'.repeat(32)}`})},
  )
  await logCase(
    'heads-signer-claim-edited',
    {code: 'E_HEAD_BAD_SIGNATURE', exitCode: 4, note: 'the head claims another signer than its signature'},
    {heads: editHead(1, {signer: OTHER.address})},
  )

  // the forged log of issue 18: entries removed, re-chained, heads signed by another key
  const forgedDir = mkdtempSync(join(tmpdir(), 'medctl-corpus-forged-'))
  const forged = rechain(lines.filter((_, i) => ![3, 6, 9].includes(i)))
  writeFileSync(join(forgedDir, LOG), `${forged.join('\n')}\n`)
  await logCase(
    'forged-other-signer',
    {code: 'E_HEAD_WRONG_SIGNER', exitCode: 4, note: 'issue 18 #1: three entries removed, re-chained, the head signed by another key'},
    {lines: forged, heads: [JSON.stringify(await head(OTHER, forgedDir))], state: null},
  )
  const foreignDir = mkdtempSync(join(tmpdir(), 'medctl-corpus-foreign-'))
  cpSync(join(work, LOG), join(foreignDir, LOG))
  await logCase(
    'heads-foreign-registry',
    {
      code: 'E_HEAD_FOREIGN_REGISTRY',
      exitCode: 4,
      note: 'a head signed by the custodian for another registry',
      flags: ['--registry', CORPUS_REGISTRY],
    },
    {heads: [...heads, JSON.stringify(await head(CORPUS_CUSTODIAN, foreignDir, FOREIGN_REGISTRY))]},
  )
  await logCase(
    'unanchored-required',
    {
      code: 'E_AUDIT_UNANCHORED',
      exitCode: 4,
      firstBadIndex: 10,
      note: 'the intact log under --require-anchored: 3 entries no head covers',
      flags: ['--require-anchored'],
    },
    {},
  )

  // proofs
  const table = new MerkleTable()
  for (const l of lines) table.push(leafHash(Buffer.from(l)))
  const h0 = JSON.parse(heads[0] as string) as SignedHead
  const h1 = JSON.parse(heads[1] as string) as SignedHead
  const proofOf = (index: number, h: SignedHead): InclusionProofFile => ({
    format: 'medctl-audit-proof/1',
    entry: lines[index] as string,
    index,
    treeSize: h.size,
    root: h.root,
    leafHash: hex(leafHash(Buffer.from(lines[index] as string))),
    path: table.inclusionProof(index, h.size).map(hex),
    head: h,
    ...(h.size < h1.size ? {consistency: {size: h1.size, root: h1.root, path: table.consistencyProof(h.size, h1.size).map(hex)}} : {}),
  })
  const good = proofOf(2, h0)
  const proofCase = (name: string, c: Omit<Case, 'path' | 'kind'>, value: unknown): void => {
    writeFileSync(join(out, `proof-${name}.json`), typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`)
    cases.push({path: `proof-${name}.json`, kind: 'proof', ...c})
  }
  const forgedEntry = '{"forged":true}'
  const forgedLeaf = hex(leafHash(Buffer.from(forgedEntry)))
  const handMade = {
    format: 'medctl-audit-proof/1',
    entry: forgedEntry,
    index: 0,
    treeSize: 1,
    root: forgedLeaf,
    leafHash: forgedLeaf,
    path: [],
  }
  proofCase('valid', {code: null, exitCode: 0, note: 'control: entry 2 under the first head, consistent with the second'}, good)
  proofCase(
    'hand-made-no-head',
    {code: 'E_PROOF_NO_HEAD', exitCode: 4, note: 'issue 13 #1: a one-leaf proof of {"forged":true} nobody signed'},
    handMade,
  )
  proofCase('head-deleted', {code: 'E_PROOF_NO_HEAD', exitCode: 4, note: 'a real proof with its head removed'}, {...good, head: undefined})
  proofCase(
    'head-garbage-signature',
    {code: 'E_HEAD_BAD_SIGNATURE', exitCode: 4, note: 'head signature replaced with garbage'},
    {...good, head: {...h0, signature: `0x${'12'.repeat(65)}`}},
  )
  proofCase(
    'head-signature-deleted',
    {code: 'E_PROOF_MALFORMED', exitCode: 4, note: 'head signature deleted'},
    {...good, head: {...h0, signature: undefined}},
  )
  proofCase(
    'head-wrong-signer',
    {code: 'E_HEAD_WRONG_SIGNER', exitCode: 4, note: 'a hand-made proof under a head signed by another key'},
    {
      ...handMade,
      head: await signHead(OTHER, {
        size: 1,
        root: forgedLeaf,
        lastHash: lineHash(Buffer.from(forgedEntry)),
        time: '2026-01-01T00:00:00.000Z',
        chainId: 31337,
        registry: CORPUS_REGISTRY,
      }),
    },
  )
  proofCase(
    'head-foreign-registry',
    {
      code: 'E_HEAD_FOREIGN_REGISTRY',
      exitCode: 4,
      note: 'a head signed by the custodian for another registry',
      flags: ['--registry', CORPUS_REGISTRY],
    },
    {
      ...handMade,
      head: await signHead(CORPUS_CUSTODIAN, {
        size: 1,
        root: forgedLeaf,
        lastHash: lineHash(Buffer.from(forgedEntry)),
        time: '2026-01-01T00:00:00.000Z',
        chainId: 31337,
        registry: FOREIGN_REGISTRY,
      }),
    },
  )
  proofCase('head-other-size', {code: 'E_PROOF_HEAD_MISMATCH', exitCode: 4, note: 'the head of another tree'}, {...good, head: h1})
  proofCase(
    'wrong-sibling',
    {code: 'E_PROOF_PATH_INVALID', exitCode: 4, note: 'a sibling in the path replaced'},
    {...good, path: good.path.map((p, i) => (i === 0 ? `0x${'11'.repeat(32)}` : p))},
  )
  proofCase(
    'sibling-removed',
    {code: 'E_PROOF_PATH_INVALID', exitCode: 4, note: 'a sibling dropped from the path'},
    {...good, path: good.path.slice(1)},
  )
  proofCase(
    'index-out-of-range',
    {code: 'E_PROOF_INDEX_OUT_OF_RANGE', exitCode: 4, note: 'index beyond the tree size'},
    {...good, index: 4000},
  )
  proofCase('index-moved', {code: 'E_PROOF_PATH_INVALID', exitCode: 4, note: 'the index of another leaf'}, {...good, index: 1})
  proofCase(
    'entry-edited',
    {code: 'E_PROOF_LEAF_MISMATCH', exitCode: 4, note: 'the entry edited'},
    {...good, entry: good.entry.replace('"TREAT"', '"HPAYMT"')},
  )
  const edited = good.entry.replace('"TREAT"', '"HPAYMT"')
  proofCase(
    'entry-and-leaf-edited',
    {code: 'E_PROOF_PATH_INVALID', exitCode: 4, note: 'the entry and its leaf hash edited together'},
    {...good, entry: edited, leafHash: hex(leafHash(Buffer.from(edited)))},
  )
  proofCase(
    'path-not-hex',
    {code: 'E_PROOF_MALFORMED', exitCode: 4, note: 'a path element that is not a hash'},
    {...good, path: ['0xzz', ...good.path.slice(1)]},
  )
  proofCase(
    'consistency-tampered',
    {code: 'E_AUDIT_INCONSISTENT', exitCode: 4, note: 'the consistency path to the newer head altered'},
    {
      ...good,
      consistency: {...good.consistency, path: (good.consistency?.path ?? []).map((p, i) => (i === 0 ? `0x${'22'.repeat(32)}` : p))},
    },
  )
  proofCase('not-json', {code: 'E_BAD_PROOF', exitCode: 2, note: 'not a proof file at all'}, 'this is not json\n')
  proofCase('wrong-format', {code: 'E_BAD_PROOF', exitCode: 2, note: 'another format'}, {...good, format: 'something-else/1'})

  writeFileSync(join(out, 'cases.json'), `${JSON.stringify({custodian: CORPUS_CUSTODIAN.address, cases}, null, 2)}\n`)
  for (const dir of [work, forgedDir, foreignDir]) rmSync(dir, {recursive: true, force: true})
  process.stdout.write(`${cases.length} cases written to ${out}\n`)
}

await main()
