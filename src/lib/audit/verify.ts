/**
 * Verifying the audit log without trusting the hospital.
 *
 * Two structures protect it. (1) Each line carries `seq` (its index) and `prev` (the SHA-256 of
 * the previous line as stored), so an edit, a deletion, a reordering or an insertion is pinned to
 * the first line it touches: a line whose seq is ahead of its position marks a deletion or a
 * reordering there; a line whose seq is behind, or whose prev does not hash the line before it,
 * means the line before it is not the original. (2) The log is an RFC 9162 Merkle tree whose heads
 * (size, root, hash of the last line) the custodian signs and anchors on chain; verification
 * recomputes the root of every anchored prefix, checks consistency proofs between consecutive
 * anchors, the signatures, and that every head the log claims is anchored on chain. A rewrite of
 * the whole chain after some point passes (1) but fails (2), and is reported from the first entry
 * no intact anchor covers.
 */
import {ExitCode} from '../cli/errors.js'
import {GENESIS, type AuditEntry} from './entry.js'
import {headSigner, readHeads, type SignedHead} from './heads.js'
import {lineHash, readLog} from './log.js'
import {RootAccumulator, consistencyProof, leafHash, verifyConsistency, type Hash} from './merkle.js'

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
  /** Anchors read from the chain; undefined when the chain cannot be reached (offline verify). */
  anchors?: ChainAnchor[]
  /** The custodian address heads must be signed by (default: whoever signed the first head). */
  custodian?: string
  /** Check consistency proofs between anchored heads (keeps every leaf hash in memory). */
  consistency?: boolean
}

export interface VerifyResult {
  ok: boolean
  entries: number
  treeSize: number
  root: string
  anchors: number
  heads: number
  firstBadIndex?: number
  problem?: string
  exitCode: number
}

const hex = (h: Hash): string => `0x${h.toString('hex')}`

export function verifyAuditLog(dir: string, options: VerifyOptions = {}): VerifyResult {
  const heads = readHeads(dir).sort((a, b) => a.size - b.size)
  const anchors = [...(options.anchors ?? [])].sort((a, b) => a.size - b.size)
  const sizes = new Set<number>([...heads.map((h) => h.size), ...anchors.map((a) => a.size)])
  const acc = new RootAccumulator()
  const roots = new Map<number, {root: string; lastHash: string}>()
  const leaves: Hash[] | undefined = options.consistency === false ? undefined : []
  let prevHash = GENESIS
  let bad: {index: number; problem: string} | undefined
  let count = 0
  for (const line of readLog(dir)) {
    count = line.index + 1
    const i = line.index
    if (!bad) {
      if (line.torn) bad = {index: i, problem: `entry ${i} is torn: its write was cut short`}
      else {
        let entry: AuditEntry | undefined
        try {
          entry = JSON.parse(line.bytes.toString('utf8')) as AuditEntry
        } catch {
          bad = {index: i, problem: `entry ${i} is not JSON`}
        }
        if (entry && !bad) {
          if (entry.seq > i) bad = {index: i, problem: `entry ${i} is missing or out of order (found entry ${entry.seq} there)`}
          else if (entry.seq < i) bad = {index: i - 1, problem: `entry ${i - 1} was inserted or altered (entry ${entry.seq} follows it)`}
          else if (entry.prev !== prevHash) bad = {index: i - 1, problem: `entry ${i - 1} was altered (entry ${i} does not chain to it)`}
        }
      }
    }
    prevHash = lineHash(line.bytes)
    const leaf = leafHash(line.bytes)
    acc.push(leaf)
    leaves?.push(leaf)
    if (sizes.has(count)) roots.set(count, {root: hex(acc.root()), lastHash: prevHash})
  }
  const root = hex(acc.root())
  const result = (problem?: {index?: number; problem: string}): VerifyResult => ({
    ok: !problem,
    entries: count,
    treeSize: count,
    root,
    anchors: anchors.length,
    heads: heads.length,
    ...(problem?.index !== undefined ? {firstBadIndex: problem.index} : {}),
    ...(problem ? {problem: problem.problem} : {}),
    exitCode: problem ? ExitCode.VERIFY_FAILED : ExitCode.OK,
  })
  if (bad) return result(bad)

  const custodian = (options.custodian ?? heads[0]?.signer)?.toLowerCase()
  let covered = 0
  for (const head of heads) {
    const signer = headSigner(head)?.toLowerCase()
    if (!signer || signer !== head.signer.toLowerCase() || signer !== custodian) {
      return result({index: covered, problem: `the tree head of size ${head.size} is forged: its signature is not the custodian's`})
    }
    const mismatch = checkPrefix(head.size, head.root, head.lastHash, roots, count, covered)
    if (mismatch) return result(mismatch)
    if (options.anchors) {
      const onChain = anchors.find((a) => a.size === head.size && a.root.toLowerCase() === head.root.toLowerCase())
      if (!onChain) return result({index: covered, problem: `the tree head of size ${head.size} has no matching anchor on chain (missing or forged anchor)`})
    }
    covered = head.size
  }
  let previous: ChainAnchor | undefined
  for (const anchor of anchors) {
    if (custodian && anchor.by.toLowerCase() !== custodian) return result({index: previous?.size ?? 0, problem: `anchor ${anchor.index} was written by ${anchor.by}, not the custodian`})
    const mismatch = checkPrefix(anchor.size, anchor.root, undefined, roots, count, previous?.size ?? 0)
    if (mismatch) return result(mismatch)
    if (leaves && previous && previous.size > 0 && previous.size < anchor.size) {
      const proof = consistencyProof(leaves, previous.size, anchor.size)
      if (!verifyConsistency(previous.size, anchor.size, proof, Buffer.from(previous.root.slice(2), 'hex'), Buffer.from(anchor.root.slice(2), 'hex'))) {
        return result({index: previous.size, problem: `anchors ${previous.index} and ${anchor.index} are not consistent`})
      }
    }
    previous = anchor
  }
  return result()
}

function checkPrefix(size: number, root: string, lastHash: string | undefined, roots: Map<number, {root: string; lastHash: string}>, count: number, covered: number): {index: number; problem: string} | undefined {
  if (size > count) return {index: count, problem: `the log was truncated: an anchored head covers ${size} entries, the log has ${count}`}
  const actual = roots.get(size)
  if (!actual) return {index: covered, problem: `no root computed for size ${size}`}
  if (actual.root.toLowerCase() !== root.toLowerCase()) {
    const last = lastHash && actual.lastHash !== lastHash ? size - 1 : covered
    return {index: last, problem: `entries before ${size} differ from the anchored tree head (root mismatch)`}
  }
  return undefined
}

export type {SignedHead}
