import {createHash, hash} from 'node:crypto'

/**
 * RFC 9162 (Certificate Transparency 2.0) Merkle trees: leaf = SHA-256(0x00 || entry),
 * node = SHA-256(0x01 || left || right), inclusion and consistency proofs and their verifiers
 * (RFC 9162 §2.1.3.2 and §2.1.4.2).
 */
export type Hash = Buffer

/**
 * One-shot SHA-256 (crypto.hash, Node ≥ 20.12): about twice as fast as createHash().update()
 * .digest() for the short inputs of a Merkle tree, where the per-call cost dominates.
 */
export const sha256 = (data: Uint8Array): Hash => hash('sha256', data, 'buffer')

// Scratch buffers for the prefixed inputs (synchronous use only: no await between fill and hash).
let leafScratch = Buffer.alloc(4096)
const nodeScratch = Buffer.alloc(65)
nodeScratch[0] = 1

export function leafHash(entry: Uint8Array): Hash {
  if (entry.length + 1 > leafScratch.length) leafScratch = Buffer.alloc(Math.max(entry.length + 1, leafScratch.length * 2))
  leafScratch[0] = 0
  leafScratch.set(entry, 1)
  return sha256(leafScratch.subarray(0, entry.length + 1))
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Hash {
  if (left.length !== 32 || right.length !== 32)
    return createHash('sha256')
      .update(Buffer.from([1]))
      .update(left)
      .update(right)
      .digest()
  nodeScratch.set(left, 1)
  nodeScratch.set(right, 33)
  return sha256(nodeScratch)
}

export const EMPTY_ROOT: Hash = createHash('sha256').digest()

/**
 * Streaming root: push leaf hashes in order; equal-sized complete subtrees merge as they form (the
 * stack holds one perfect subtree per set bit of the size), so memory is O(log n). The final fold
 * from the right gives exactly RFC 9162's MTH.
 */
export class RootAccumulator {
  private readonly stack: Hash[] = []
  size = 0

  push(leaf: Hash): void {
    let hash = leaf
    for (let n = this.size; n % 2 === 1; n = Math.floor(n / 2)) hash = nodeHash(this.stack.pop() as Hash, hash)
    this.stack.push(hash)
    this.size++
  }

  root(): Hash {
    if (this.stack.length === 0) return EMPTY_ROOT
    let hash = this.stack.at(-1) as Hash
    for (let i = this.stack.length - 2; i >= 0; i--) hash = nodeHash(this.stack[i] as Hash, hash)
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
    return m < k
      ? [...path(m, start, start + k), rootOf(leaves, start + k, end)]
      : [...path(m - k, start + k, end), rootOf(leaves, start, start + k)]
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
    return m <= k
      ? [...subproof(m, start, start + k, complete), rootOf(leaves, start + k, end)]
      : [...subproof(m - k, start + k, end, false), rootOf(leaves, start, start + k)]
  }
  return size1 === size2 ? [] : subproof(size1, 0, size2, true)
}

/** RFC 9162 §2.1.3.2. */
const isHash = (h: Uint8Array): boolean => h.length === 32

export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
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
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
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

/**
 * Every perfect subtree of a growing tree (level h holds the roots of the aligned runs of 2^h
 * leaves), packed in one buffer per level: 64 bytes per leaf in all. Any RFC 9162 range root needed
 * by a proof is then O(log n) hashes instead of a rescan of the leaves, so consistency proofs
 * between many anchored heads of a large log stay cheap.
 */
export class MerkleTable {
  private readonly levels: Buffer[] = []
  private readonly counts: number[] = []

  get size(): number {
    return this.counts[0] ?? 0
  }

  private put(level: number, hash: Uint8Array): number {
    if (this.levels.length <= level) {
      this.levels.push(Buffer.alloc(32 * 1024))
      this.counts.push(0)
    }
    let buffer = this.levels[level] as Buffer
    const n = this.counts[level] as number
    if ((n + 1) * 32 > buffer.length) {
      const grown = Buffer.alloc(buffer.length * 2)
      buffer.copy(grown, 0, 0, n * 32)
      this.levels[level] = grown
      buffer = grown
    }
    buffer.set(hash, n * 32)
    this.counts[level] = n + 1
    return n
  }

  private node(level: number, index: number): Hash {
    return (this.levels[level] as Buffer).subarray(index * 32, index * 32 + 32)
  }

  push(leaf: Hash): void {
    let index = this.put(0, leaf)
    let level = 0
    while (index % 2 === 1) {
      const parent = nodeHash(this.node(level, index - 1), this.node(level, index))
      level++
      index = this.put(level, parent)
    }
  }

  /** MTH(D[start:end]) of RFC 9162. */
  rangeRoot(start: number, end: number): Hash {
    const n = end - start
    if (start < 0 || n <= 0 || end > this.size) throw new RangeError('bad range')
    if ((n & (n - 1)) === 0 && start % n === 0) return Buffer.from(this.node(Math.log2(n), start / n))
    const k = largestPowerOfTwoBelow(n)
    return nodeHash(this.rangeRoot(start, start + k), this.rangeRoot(start + k, end))
  }

  root(size = this.size): Hash {
    return size === 0 ? EMPTY_ROOT : this.rangeRoot(0, size)
  }

  /** PATH(m, D[0:size]) of RFC 9162 §2.1.3.1. */
  inclusionProof(index: number, size = this.size): Hash[] {
    if (index < 0 || index >= size || size > this.size) throw new RangeError('leaf index out of range')
    const path = (m: number, start: number, end: number): Hash[] => {
      const n = end - start
      if (n === 1) return []
      const k = largestPowerOfTwoBelow(n)
      return m < k
        ? [...path(m, start, start + k), this.rangeRoot(start + k, end)]
        : [...path(m - k, start + k, end), this.rangeRoot(start, start + k)]
    }
    return path(index, 0, size)
  }

  /** PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1, from the leaves as they are now. */
  consistencyProof(size1: number, size2 = this.size): Hash[] {
    if (size1 <= 0 || size1 > size2 || size2 > this.size) throw new RangeError('bad tree sizes')
    const subproof = (m: number, start: number, end: number, complete: boolean): Hash[] => {
      const n = end - start
      if (m === n) return complete ? [] : [this.rangeRoot(start, end)]
      const k = largestPowerOfTwoBelow(n)
      return m <= k
        ? [...subproof(m, start, start + k, complete), this.rangeRoot(start + k, end)]
        : [...subproof(m - k, start + k, end, false), this.rangeRoot(start, start + k)]
    }
    return size1 === size2 ? [] : subproof(size1, 0, size2, true)
  }
}
