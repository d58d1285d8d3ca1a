/**
 * Verifying the audit log without trusting the hospital, nor the log.
 *
 * Three structures protect it. (1) Each line carries `seq` (its index) and `prev` (the SHA-256 of
 * the previous line as stored), so a plain edit, deletion, reordering or insertion is pinned to the
 * first line it touches. (2) The log is an RFC 9162 Merkle tree whose heads (size, root, hash of
 * the last line) the custodian signs and anchors on chain. The anchors the verifier reads from its
 * own registry are the checkpoints: the first is compared with the recomputed root of its prefix,
 * every later one is reached from the one before by a consistency proof built from the log's
 * leaves and checked against both recorded roots — so a rewritten prefix, even one whose hash
 * chain was recomputed, fails, and it is reported from the first entry no intact checkpoint
 * vouches for (`firstBadIndex`, with `lastBadIndex` closing the range where the exact entry cannot
 * be known). (3) The signed heads the log carries are evidence, never trust: each must be signed by
 * the custodian the verifier names (or the registry says), for the verifier's registry and chain,
 * and be anchored there.
 *
 * Entries after the newest checkpoint (the unanchored tail) are said out loud (`unanchored`): only
 * the hash chain and the appender's own state file can show an edit or a cut there.
 */
import {IntentTracker, type OpenIntent} from './intents.js'
import {ExitCode} from '../core/errors.js'
import {GENESIS, type AuditEntry} from './entry.js'
import {headSigner, parseHeads, type SignedHead} from './heads.js'
import {lineHash, readLog, readState} from './log.js'
import {MerkleTable, leafHash, verifyConsistency, type Hash} from './merkle.js'

export interface ChainAnchor {
  index: number
  by: string
  size: number
  root: string
  timestamp: number
  txHash?: string
  blockNumber?: number
}

export interface VerifyOptions {
  /** Anchors read from the verifier's own registry; undefined when the chain is not checked (offline). */
  anchors?: ChainAnchor[]
  /**
   * The address (or addresses) the verifier accepts as the custodian: heads must be signed by it and
   * anchors written by it. Undefined: the verifier named none, so the heads' signer is unverified.
   */
  custodian?: string | readonly string[]
  /** The verifier's registry and chain id: every signed head must name them. */
  registry?: string
  chainId?: number
  /** Fail (E_AUDIT_UNANCHORED) when entries exist that no checkpoint covers. */
  requireAnchored?: boolean
  /** Kept for callers of the old API; consistency proofs are always checked. */
  consistency?: boolean
}

/** The stable codes of a failed verification (also in `problems[].code`). */
export const VERIFY_CODES = {
  torn: 'E_AUDIT_TORN_TAIL',
  notJson: 'E_AUDIT_BAD_ENTRY',
  missing: 'E_AUDIT_MISSING_ENTRY',
  inserted: 'E_AUDIT_INSERTED_ENTRY',
  chain: 'E_AUDIT_CHAIN_BROKEN',
  altered: 'E_AUDIT_ALTERED',
  truncated: 'E_AUDIT_TRUNCATED',
  tailTruncated: 'E_AUDIT_TAIL_TRUNCATED',
  tailAltered: 'E_AUDIT_TAIL_ALTERED',
  inconsistent: 'E_AUDIT_INCONSISTENT',
  badHead: 'E_BAD_HEAD',
  badSignature: 'E_HEAD_BAD_SIGNATURE',
  wrongSigner: 'E_HEAD_WRONG_SIGNER',
  unverifiedSigner: 'E_SIGNER_UNVERIFIED',
  foreignHead: 'E_HEAD_FOREIGN_REGISTRY',
  notAnchored: 'E_HEAD_NOT_ANCHORED',
  unanchored: 'E_AUDIT_UNANCHORED',
} as const

export interface VerifyProblem {
  code: string
  problem: string
  /** First entry (from 0) that differs, or the first one no intact checkpoint vouches for. */
  index?: number
  /** Last entry of the range the difference lies in, when the exact entry cannot be known. */
  last?: number
}

export interface VerifyResult {
  ok: boolean
  /** Stable code of the first problem. */
  code?: string
  entries: number
  treeSize: number
  root: string
  /** Entries covered by the newest intact anchor (offline: the newest verified signed head). */
  anchoredEntries: number
  /** Entries after it: no intact anchor covers them (the unanchored tail when the log is ok). */
  unanchored: number
  /** Anchors read from the verifier's registry (by its custodian); null when not checked (offline). */
  anchors: number | null
  heads: number
  /** Addresses that signed the log's heads (recovered from the signatures). */
  signers: string[]
  firstBadIndex?: number
  lastBadIndex?: number
  problem?: string
  problems: VerifyProblem[]
  /** Write-ahead intents no outcome followed: acts a crash interrupted (reported, not a failure). */
  openIntents: OpenIntent[]
  exitCode: number
}

const hex = (h: Hash): string => `0x${h.toString('hex')}`
const bytes = (h: string): Buffer => Buffer.from(h.replace(/^0x/i, ''), 'hex')
const lower = (s: string): string => s.toLowerCase()

interface Checkpoint {
  size: number
  root: string
  label: string
}

/**
 * Whether the tree the log's leaves form is consistent with two recorded heads: a consistency
 * proof from `older` to `newer` is built from the leaves as they are now and checked against both
 * recorded roots (RFC 9162 §2.1.4.2), so it fails when the log's prefix was rewritten.
 */
export function consistentWith(table: MerkleTable, older: {size: number; root: string}, newer: {size: number; root: string}): boolean {
  if (older.size <= 0 || older.size > newer.size || newer.size > table.size) return false
  const proof = table.consistencyProof(older.size, newer.size)
  return verifyConsistency(older.size, newer.size, proof, bytes(older.root), bytes(newer.root))
}

export function verifyAuditLog(dir: string, options: VerifyOptions = {}): VerifyResult {
  const {heads: parsedHeads, bad: badHeads} = parseHeads(dir)
  const heads = [...parsedHeads].sort((a, b) => a.size - b.size)
  const state = readState(dir)
  const wanted = new Set<number>(state ? [state.size] : [])

  // (1) the hash chain, and the tree, in one streaming pass.
  const table = new MerkleTable()
  const lastHashes = new Map<number, string>()
  let prevHash = GENESIS
  let chainBad: VerifyProblem | undefined
  let count = 0
  const intents = new IntentTracker()
  for (const line of readLog(dir)) {
    count = line.index + 1
    const i = line.index
    if (!chainBad) {
      if (line.torn) chainBad = {code: VERIFY_CODES.torn, index: i, problem: `entry ${i} is torn: its write was cut short`}
      else {
        let entry: AuditEntry | null | undefined
        try {
          entry = JSON.parse(line.bytes.toString('utf8')) as AuditEntry | null
        } catch {
          chainBad = {code: VERIFY_CODES.notJson, index: i, problem: `entry ${i} is not JSON`}
        }
        if (!chainBad) {
          if (typeof entry !== 'object' || entry === null || Array.isArray(entry) || typeof entry.seq !== 'number')
            chainBad = {code: VERIFY_CODES.notJson, index: i, problem: `entry ${i} is not an audit entry`}
          else if (entry.seq > i)
            chainBad = {
              code: VERIFY_CODES.missing,
              index: i,
              problem: `entry ${i} is missing or out of order (found entry ${entry.seq} there)`,
            }
          else if (entry.seq < i)
            chainBad = {
              code: VERIFY_CODES.inserted,
              index: i - 1,
              problem: `entry ${i - 1} was inserted or altered (entry ${entry.seq} follows it)`,
            }
          else if (entry.prev !== prevHash)
            chainBad = {code: VERIFY_CODES.chain, index: i - 1, problem: `entry ${i - 1} was altered (entry ${i} does not chain to it)`}
          else intents.observe(entry, i)
        }
      }
    }
    prevHash = lineHash(line.bytes)
    table.push(leafHash(line.bytes))
    if (wanted.has(count)) lastHashes.set(count, prevHash)
  }
  const root = hex(table.root())

  // (3) the heads the log carries: evidence to check, never a source of trust.
  const custodians = options.custodian === undefined ? undefined : new Set([options.custodian].flat().map(lower))
  const signers = new Set<string>()
  const headProblems: VerifyProblem[] = []
  for (const bad of badHeads)
    headProblems.push({code: VERIFY_CODES.badHead, problem: `line ${bad.line} of heads.ndjson is not a signed tree head (${bad.problem})`})
  const trustedHeads: SignedHead[] = []
  for (const head of heads) {
    const signer = headSigner(head)
    if (signer) signers.add(signer)
    if (!signer || lower(signer) !== lower(head.signer)) {
      headProblems.push({
        code: VERIFY_CODES.badSignature,
        problem: `the tree head of size ${head.size} is forged: its signature does not verify`,
      })
    } else if (!custodians) {
      headProblems.push({
        code: VERIFY_CODES.unverifiedSigner,
        problem: `the tree heads are signed by ${signer}, but no custodian was given to check it against (name the registry or --custodian)`,
      })
    } else if (!custodians.has(lower(signer))) {
      headProblems.push({
        code: VERIFY_CODES.wrongSigner,
        problem: `the tree head of size ${head.size} is signed by ${signer}, not by the custodian (${[...custodians].join(', ') || 'none holds the role'})`,
      })
    } else if (
      (options.registry && lower(head.registry) !== lower(options.registry)) ||
      (options.chainId !== undefined && head.chainId !== options.chainId)
    ) {
      headProblems.push({
        code: VERIFY_CODES.foreignHead,
        problem: `the tree head of size ${head.size} names registry ${head.registry} on chain ${head.chainId}, not the verifier's (${options.registry ?? '?'} on chain ${options.chainId ?? '?'})`,
      })
    } else if (
      options.anchors &&
      !options.anchors.some(
        (a) => a.size === head.size && lower(a.root) === lower(head.root) && (!custodians || custodians.has(lower(a.by))),
      )
    ) {
      headProblems.push({
        code: VERIFY_CODES.notAnchored,
        problem: `the tree head of size ${head.size} has no matching anchor in the verifier's registry (missing or forged anchor)`,
      })
    } else {
      // Its root (which covers its last line) is checked with the checkpoints below.
      trustedHeads.push(head)
    }
  }

  // (2) the checkpoints: anchors on the verifier's registry (online), else the verified signed heads.
  const anchors = options.anchors ? options.anchors.filter((a) => !custodians || custodians.has(lower(a.by))) : undefined
  const checkpoints: Checkpoint[] = anchors
    ? [...anchors]
        .sort((a, b) => a.size - b.size || a.index - b.index)
        .map((a) => ({size: a.size, root: a.root, label: `anchor ${a.index}`}))
    : trustedHeads.map((h) => ({size: h.size, root: h.root, label: `signed head of size ${h.size}`}))
  let covered = 0
  let cpProblem: VerifyProblem | undefined
  let previous: Checkpoint | undefined
  for (const cp of checkpoints) {
    const from = previous?.size ?? 0
    if (cp.size > count) {
      cpProblem = {
        code: VERIFY_CODES.truncated,
        index: from === count ? count : from,
        last: cp.size - 1,
        problem:
          from === count
            ? `the log was truncated: ${cp.label} covers ${cp.size} entries, the log has ${count}`
            : `entries were removed: ${cp.label} covers ${cp.size} entries, the log has ${count}; the first difference is between entries ${from} and ${count}`,
      }
      break
    }
    let intact: boolean
    if (cp.size === 0) intact = true
    else if (!previous || previous.size === 0) intact = lower(hex(table.root(cp.size))) === lower(cp.root)
    else if (previous.size === cp.size) {
      if (lower(previous.root) !== lower(cp.root)) {
        cpProblem = {
          code: VERIFY_CODES.inconsistent,
          index: from,
          problem: `${previous.label} and ${cp.label} give different roots for the same size ${cp.size}`,
        }
        break
      }
      intact = true
    } else intact = consistentWith(table, previous, cp)
    if (!intact) {
      cpProblem = {
        code: VERIFY_CODES.altered,
        index: from,
        last: cp.size - 1,
        problem:
          cp.size - from === 1
            ? `entry ${from} differs from ${cp.label}`
            : `entries ${from}…${cp.size - 1} are not what ${cp.label} covers${previous ? ` (the consistency proof from ${previous.label} fails)` : ' (root mismatch)'}: the first entry that differs is in that range, entries before ${from} are intact`,
      }
      break
    }
    covered = cp.size
    previous = cp
  }

  // The unanchored tail: only the hash chain and the appender's state file can speak for it.
  let tailProblem: VerifyProblem | undefined
  if (state && !chainBad) {
    if (state.size > count)
      tailProblem = {
        code: VERIFY_CODES.tailTruncated,
        index: count,
        last: state.size - 1,
        problem: `the appender wrote ${state.size} entries, the log has ${count}: entries ${count}…${state.size - 1} were removed`,
      }
    else if (state.size > 0) {
      const last = lastHashes.get(state.size)
      if (last !== undefined && last !== state.lastHash) {
        const from = Math.min(covered, state.size - 1)
        tailProblem = {
          code: VERIFY_CODES.tailAltered,
          index: from,
          last: state.size - 1,
          problem: `entry ${state.size - 1} is not the one the appender wrote${from < state.size - 1 ? ` (the first entry that differs is between ${from} and ${state.size - 1})` : ''}`,
        }
      }
    }
  }
  const unanchored = count - covered

  const problems: VerifyProblem[] = []
  const chainFirst = chainBad && (!cpProblem || (chainBad.index ?? 0) <= (cpProblem.last ?? cpProblem.index ?? 0))
  if (chainBad && chainFirst) problems.push(chainBad)
  problems.push(...headProblems)
  if (cpProblem) problems.push(cpProblem)
  if (chainBad && !chainFirst) problems.push(chainBad)
  if (tailProblem) problems.push(tailProblem)
  if (options.requireAnchored && unanchored > 0)
    problems.push({
      code: VERIFY_CODES.unanchored,
      index: covered,
      last: count - 1,
      problem: `${unanchored} entries (${covered}…${count - 1}) are covered by no anchor`,
    })

  const seen = new Set<string>()
  const unique = problems.filter((p) => {
    const key = `${p.code}|${p.problem}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  const first = unique[0]
  return {
    ok: !first,
    ...(first ? {code: first.code} : {}),
    entries: count,
    treeSize: count,
    root,
    anchoredEntries: covered,
    unanchored,
    anchors: anchors ? anchors.length : null,
    heads: heads.length + badHeads.length,
    signers: [...signers],
    ...(first?.index !== undefined ? {firstBadIndex: first.index} : {}),
    ...(first?.last !== undefined && first.last !== first.index ? {lastBadIndex: first.last} : {}),
    ...(first ? {problem: first.problem} : {}),
    problems: unique,
    openIntents: intents.unmatched().slice(0, 1000),
    exitCode: first ? ExitCode.VERIFY_FAILED : ExitCode.OK,
  }
}

export type {SignedHead}
