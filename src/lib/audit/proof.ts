/**
 * Inclusion proofs an auditor can rely on: a proof carries the signed tree head it is relative to,
 * and checking it means (1) the entry hashes to the leaf and the path leads to the head's root,
 * (2) the head's signature recovers to its signer and that signer is the custodian the verifier
 * names or its registry names, for the verifier's registry and chain, and (3) online, the head is
 * anchored in the verifier's registry (or consistent, by the proof's consistency path, with a
 * head that is). The proof's own `anchor` field (registry, transaction) is a hint for humans and is
 * never used to decide.
 */
import {MedctlError} from '../core/errors.js'
import {headShapeProblem, headSigner, readHeads, type SignedHead} from './heads.js'
import {readLog} from './log.js'
import {MerkleTable, leafHash, verifyConsistency, verifyInclusion} from './merkle.js'
import {
  acceptedCustodians,
  chainCheckedAgainst,
  offlineCheckedAgainst,
  openChainView,
  type CheckedAgainst,
  type VerifierTrust,
} from './trust.js'
import type {ChainAnchor} from './verify.js'

export const PROOF_FORMAT = 'medctl-audit-proof/1'

export interface InclusionProofFile {
  format: typeof PROOF_FORMAT
  entry: string
  index: number
  treeSize: number
  root: string
  leafHash: string
  path: string[]
  /** The signed tree head the proof is relative to (size = treeSize, root = root). */
  head?: SignedHead
  /** Optional: a consistency proof from the head to a newer anchored head. */
  consistency?: {size: number; root: string; path: string[]}
  /** Where the custodian says the head was anchored: informative only, never trusted. */
  anchor?: {chainId: number; registry: string; index: number; txHash: string; blockNumber: number}
}

const hex = (h: Uint8Array): string => `0x${Buffer.from(h).toString('hex')}`
const bytes = (h: string): Buffer => Buffer.from(h.replace(/^0x/i, ''), 'hex')
const HASH = /^0x[0-9a-f]{64}$/i

/**
 * An inclusion proof of entry `index` relative to the oldest anchored signed head that covers it,
 * with a consistency proof from that head to the newest anchored head when they differ.
 */
export function proveEntry(dir: string, index: number): InclusionProofFile {
  const table = new MerkleTable()
  let entry: Buffer | undefined
  for (const line of readLog(dir)) {
    table.push(leafHash(line.bytes))
    if (line.index === index) entry = line.bytes
  }
  if (index < 0 || index >= table.size || !entry)
    throw new MedctlError('E_NO_SUCH_ENTRY', `The log has ${table.size} entries (0…${table.size - 1}).`, {exitCode: 2})
  const anchored = readHeads(dir)
    .filter((h) => h.anchor && h.size <= table.size)
    .sort((a, b) => a.size - b.size)
  const head = anchored.find((h) => h.size > index)
  if (!head) {
    throw new MedctlError(
      'E_ENTRY_NOT_ANCHORED',
      `Entry ${index} is in the unanchored tail: no signed, anchored tree head covers it yet, so no proof could be checked.`,
      {
        exitCode: 2,
        suggestions: ['Run `medctl audit anchor` (custodian), then prove it.'],
      },
    )
  }
  const newest = anchored.at(-1) as SignedHead
  return {
    format: PROOF_FORMAT,
    entry: entry.toString('utf8'),
    index,
    treeSize: head.size,
    root: head.root,
    leafHash: hex(table.rangeRoot(index, index + 1)),
    path: table.inclusionProof(index, head.size).map(hex),
    head,
    ...(newest.size > head.size
      ? {consistency: {size: newest.size, root: newest.root, path: table.consistencyProof(head.size, newest.size).map(hex)}}
      : {}),
    ...(head.anchor ? {anchor: {chainId: head.chainId, registry: head.registry, ...head.anchor}} : {}),
  }
}

/** The stable codes of a refused proof (also `code` in the result). */
export const PROOF_CODES = {
  malformed: 'E_PROOF_MALFORMED',
  noHead: 'E_PROOF_NO_HEAD',
  leaf: 'E_PROOF_LEAF_MISMATCH',
  range: 'E_PROOF_INDEX_OUT_OF_RANGE',
  path: 'E_PROOF_PATH_INVALID',
  headMismatch: 'E_PROOF_HEAD_MISMATCH',
  badSignature: 'E_HEAD_BAD_SIGNATURE',
  unverifiedSigner: 'E_SIGNER_UNVERIFIED',
  wrongSigner: 'E_HEAD_WRONG_SIGNER',
  foreignHead: 'E_HEAD_FOREIGN_REGISTRY',
  notAnchored: 'E_HEAD_NOT_ANCHORED',
  inconsistent: 'E_AUDIT_INCONSISTENT',
} as const

export interface ProofCheck {
  ok: boolean
  code?: string
  problem?: string
  /** The entry hashes to the leaf and the path leads to the root. */
  offline: boolean
  /** The head (or the head it is consistent with) is anchored in the verifier's registry; null: not checked. */
  onChain: boolean | null
  index: number | null
  treeSize: number | null
  root: string | null
  /** Recovered from the head's signature; null when there is none or it is malformed. */
  signer: string | null
  signerVerified: boolean
  anchor: {index: number; size: number; via: 'head' | 'consistency'; txHash?: string; blockNumber?: number} | null
}

export interface ProofCheckOptions {
  /** Anchors of the verifier's registry; undefined: offline, the anchor is not checked. */
  anchors?: ChainAnchor[]
  custodian?: string | readonly string[]
  registry?: string
  chainId?: number
}

/** Why a parsed value is not a well-formed proof, or undefined. */
export function proofShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object'
  const p = value as Record<string, unknown>
  if (p.format !== PROOF_FORMAT) return `format is not ${PROOF_FORMAT}`
  if (typeof p.entry !== 'string') return 'entry is not a string'
  if (!Number.isSafeInteger(p.index) || (p.index as number) < 0) return 'index is not a non-negative integer'
  if (!Number.isSafeInteger(p.treeSize) || (p.treeSize as number) < 1) return 'treeSize is not a positive integer'
  if (typeof p.root !== 'string' || !HASH.test(p.root)) return 'root is not a 32-byte hex hash'
  if (typeof p.leafHash !== 'string' || !HASH.test(p.leafHash)) return 'leafHash is not a 32-byte hex hash'
  if (!Array.isArray(p.path) || p.path.length > 64 || !p.path.every((h) => typeof h === 'string' && HASH.test(h)))
    return 'path is not a list of 32-byte hex hashes'
  if (p.head !== undefined) {
    const problem = headShapeProblem(p.head)
    if (problem) return `head: ${problem}`
  }
  if (p.consistency !== undefined) {
    const c = p.consistency as Record<string, unknown>
    if (
      typeof c !== 'object' ||
      c === null ||
      !Number.isSafeInteger(c.size) ||
      typeof c.root !== 'string' ||
      !HASH.test(c.root) ||
      !Array.isArray(c.path) ||
      c.path.length > 128 ||
      !c.path.every((h) => typeof h === 'string' && HASH.test(h))
    )
      return 'consistency is not {size, root, path}'
  }
  return undefined
}

/** Checks a parsed proof against the verifier's roots (sync core; see checkProofAgainst). */
export function checkProof(value: unknown, options: ProofCheckOptions = {}): ProofCheck {
  const base: ProofCheck = {
    ok: false,
    offline: false,
    onChain: null,
    index: null,
    treeSize: null,
    root: null,
    signer: null,
    signerVerified: false,
    anchor: null,
  }
  const fail = (code: string, problem: string, extra: Partial<ProofCheck> = {}): ProofCheck => ({
    ...base,
    ...extra,
    ok: false,
    code,
    problem,
  })
  const shape = proofShapeProblem(value)
  if (shape) return fail(PROOF_CODES.malformed, `the proof is malformed: ${shape}`)
  const proof = value as InclusionProofFile
  Object.assign(base, {index: proof.index, treeSize: proof.treeSize, root: proof.root})
  const leaf = leafHash(Buffer.from(proof.entry, 'utf8'))
  if (hex(leaf) !== proof.leafHash.toLowerCase()) return fail(PROOF_CODES.leaf, 'the entry does not hash to the leaf hash')
  if (proof.index >= proof.treeSize) return fail(PROOF_CODES.range, `index ${proof.index} is outside a tree of ${proof.treeSize} entries`)
  if (!verifyInclusion(proof.index, proof.treeSize, leaf, proof.path.map(bytes), bytes(proof.root)))
    return fail(PROOF_CODES.path, 'the inclusion path does not lead to the root')
  base.offline = true
  const head = proof.head
  if (!head) return fail(PROOF_CODES.noHead, 'the proof carries no signed tree head: nobody vouches for its root')
  if (head.size !== proof.treeSize || head.root.toLowerCase() !== proof.root.toLowerCase())
    return fail(PROOF_CODES.headMismatch, `the signed head (size ${head.size}) is not the tree the path leads to (size ${proof.treeSize})`)
  const signer = headSigner(head)
  base.signer = signer ?? null
  if (!signer || signer.toLowerCase() !== head.signer.toLowerCase())
    return fail(PROOF_CODES.badSignature, "the tree head's signature does not verify")
  const custodians = options.custodian === undefined ? undefined : new Set([options.custodian].flat().map((c) => c.toLowerCase()))
  if (!custodians)
    return fail(
      PROOF_CODES.unverifiedSigner,
      `the head is signed by ${signer}, but nothing says that is the custodian: check online (--rpc-url --registry, or a profile) or give --custodian`,
    )
  if (!custodians.has(signer.toLowerCase()))
    return fail(
      PROOF_CODES.wrongSigner,
      `the head is signed by ${signer}, not by the custodian (${[...custodians].join(', ') || 'none holds the role'})`,
    )
  base.signerVerified = true
  if (
    (options.registry && head.registry.toLowerCase() !== options.registry.toLowerCase()) ||
    (options.chainId !== undefined && head.chainId !== options.chainId)
  ) {
    return fail(
      PROOF_CODES.foreignHead,
      `the head names registry ${head.registry} on chain ${head.chainId}, not the verifier's (${options.registry ?? '?'} on chain ${options.chainId ?? '?'})`,
    )
  }
  let consistent: {size: number; root: string} | undefined
  if (proof.consistency) {
    const c = proof.consistency
    if (!verifyConsistency(head.size, c.size, c.path.map(bytes), bytes(head.root), bytes(c.root)))
      return fail(PROOF_CODES.inconsistent, `the consistency proof from size ${head.size} to size ${c.size} fails`)
    consistent = {size: c.size, root: c.root}
  }
  if (!options.anchors) return {...base, ok: true}
  const mine = options.anchors.filter((a) => custodians.has(a.by.toLowerCase()))
  const exact = mine.find((a) => a.size === head.size && a.root.toLowerCase() === head.root.toLowerCase())
  const later = consistent
    ? mine.find((a) => a.size === consistent.size && a.root.toLowerCase() === consistent.root.toLowerCase())
    : undefined
  const found = exact ?? later
  if (!found)
    return fail(
      PROOF_CODES.notAnchored,
      "no anchor in the verifier's registry has this head's size and root (nor the head it is consistent with)",
      {onChain: false},
    )
  return {
    ...base,
    ok: true,
    onChain: true,
    anchor: {
      index: found.index,
      size: found.size,
      via: exact ? 'head' : 'consistency',
      ...(found.txHash ? {txHash: found.txHash} : {}),
      ...(found.blockNumber !== undefined ? {blockNumber: found.blockNumber} : {}),
    },
  }
}

export type ProofReport = ProofCheck & {checkedAgainst: CheckedAgainst}

/** Checks a parsed proof against the verifier's own roots (profile or flags), never the proof's. */
export async function checkProofAgainst(value: unknown, trust: VerifierTrust): Promise<ProofReport> {
  if (trust.mode === 'offline') {
    return {
      ...checkProof(value, {custodian: trust.custodian, registry: trust.registry, chainId: trust.chainId}),
      checkedAgainst: offlineCheckedAgainst(trust),
    }
  }
  const view = await openChainView(trust.provider, trust.registry)
  const candidates = new Set<string>(view.anchors.map((a) => a.by))
  const head = (value as {head?: SignedHead} | null)?.head
  if (head && !headShapeProblem(head)) {
    const signer = headSigner(head)
    if (signer) candidates.add(signer)
  }
  const accepted = await acceptedCustodians(view, trust.custodian, candidates)
  return {
    ...checkProof(value, {anchors: view.anchors, custodian: accepted.custodian, registry: view.registry, chainId: view.chainId}),
    checkedAgainst: chainCheckedAgainst(trust.source, view, accepted),
  }
}
