import {createHash} from 'node:crypto'

/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle trees: leaf = SHA-256(0x00 || entry),
 * node = SHA-256(0x01 || left || right), inclusion and consistency proofs and their verifiers
 * (RFC 9162 §2.1.3.2 and §2.1.4.2).
 */
export type Hash = Buffer

const LEAF = Buffer.from([0])
const NODE = Buffer.from([1])

export function leafHash(entry: Uint8Array): Hash {
  return createHash('sha256').update(LEAF).update(entry).digest()
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  return createHash('sha256').update(NODE).update(left).update(right).digest()
}

export const EMPTY_ROOT: Hash = createHash('sha256').digest()

/**
 * Streaming root: push leaf hashes in order; equal-sized complete subtrees merge as they form, so
 * memory is O(log n). The final fold from the right gives exactly RFC 9162's MTH.
 */
export class RootAccumulator {
  private readonly stack: Array<{hash: Hash; size: number}> = []
  size = 0

  push(leaf: Hash): void {
    let item = {hash: leaf, size: 1}
    while (this.stack.length > 0 && (this.stack.at(-1) as {size: number}).size === item.size) {
      const left = this.stack.pop() as {hash: Hash; size: number}
      item = {hash: nodeHash(left.hash, item.hash), size: left.size * 2}
    }
    this.stack.push(item)
    this.size++
  }

  root(): Hash {
    if (this.stack.length === 0) return EMPTY_ROOT
    let hash = (this.stack.at(-1) as {hash: Hash}).hash
    for (let i = this.stack.length - 2; i >= 0; i--) hash = nodeHash((this.stack[i] as {hash: Hash}).hash, hash)
    return hash
  }
}

export function rootOf(leaves: readonly Hash[], start = 0, end = leaves.length): Hash {
  const acc = new RootAccumulator()
  for (let i = start; i < end; i++) acc.push(leaves[i] as Hash)
  return acc.root()
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** PATH(m, D[start:end]) of RFC 9162 §2.1.3.1. */
export function inclusionProof(leaves: readonly Hash[], index: number, size = leaves.length): Hash[] {
  if (index < 0 || index >= size || size > leaves.length) throw new RangeError('leaf index out of range')
  const path = (m: number, start: number, end: number): Hash[] => {
    const n = end - start
    if (n === 1) return []
    const k = largestPowerOfTwoBelow(n)
    return m < k ? [...path(m, start, start + k), rootOf(leaves, start + k, end)] : [...path(m - k, start + k, end), rootOf(leaves, start, start + k)]
  }
  return path(index, 0, size)
}

/** PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1. */
export function consistencyProof(leaves: readonly Hash[], size1: number, size2 = leaves.length): Hash[] {
  if (size1 <= 0 || size1 > size2 || size2 > leaves.length) throw new RangeError('bad tree sizes')
  const subproof = (m: number, start: number, end: number, complete: boolean): Hash[] => {
    const n = end - start
    if (m === n) return complete ? [] : [rootOf(leaves, start, end)]
    const k = largestPowerOfTwoBelow(n)
    return m <= k ? [...subproof(m, start, start + k, complete), rootOf(leaves, start + k, end)] : [...subproof(m - k, start + k, end, false), rootOf(leaves, start, start + k)]
  }
  return size1 === size2 ? [] : subproof(size1, 0, size2, true)
}

/** RFC 9162 §2.1.3.2. */
const isHash = (h: Uint8Array): boolean => h.length === 32

export function verifyInclusion(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (leafIndex < 0 || leafIndex >= treeSize || !isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false
  let fn = leafIndex
  let sn = treeSize - 1
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && r.equals(Buffer.from(root))
}

/** RFC 9162 §2.1.4.2. A proof from size 0 is rejected, as by the reference implementation. */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): boolean {
  if (size1 <= 0 || size1 > size2) return false
  if (size1 === size2) return proof.length === 0 && Buffer.from(root1).equals(Buffer.from(root2))
  if (!isHash(root1) || !isHash(root2) || !proof.every(isHash)) return false
  if (proof.length === 0) return false
  let path = proof.map((p) => Buffer.from(p))
  if ((size1 & (size1 - 1)) === 0) path = [Buffer.from(root1), ...path]
  let fn = size1 - 1
  let sn = size2 - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0] as Buffer
  let sr = path[0] as Buffer
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && fr.equals(Buffer.from(root1)) && sr.equals(Buffer.from(root2))
}
