import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {
  MerkleTable,
  consistencyProof,
  inclusionProof,
  leafHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/lib/audit/merkle.js'
import {consistentWith} from '../../src/lib/audit/verify.js'
import {repoRoot} from '../helpers/cli.js'

const vectors = join(repoRoot, 'test', 'fixtures', 'merkle-vectors')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) =>
    statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : name.endsWith('.json') ? [join(dir, name)] : [],
  )
}

const b64 = (s: string | null): Buffer => Buffer.from(s ?? '', 'base64')

describe('RFC 9162 Merkle proofs: every published vector (transparency-dev/merkle testdata)', () => {
  const inclusion = files(join(vectors, 'inclusion'))
  const consistency = files(join(vectors, 'consistency'))

  it('finds the vectors', () => {
    expect(inclusion.length + consistency.length).toBeGreaterThan(150)
  })

  for (const file of inclusion) {
    it(`inclusion ${file.slice(vectors.length + 1)}`, () => {
      const v = JSON.parse(readFileSync(file, 'utf8')) as {
        leafIdx: number
        treeSize: number
        root: string
        leafHash: string
        proof: string[] | null
        wantErr: boolean
      }
      expect(verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root))).toBe(!v.wantErr)
    })
  }

  for (const file of consistency) {
    it(`consistency ${file.slice(vectors.length + 1)}`, () => {
      const v = JSON.parse(readFileSync(file, 'utf8')) as {
        size1: number
        size2: number
        root1: string
        root2: string
        proof: string[] | null
        wantErr: boolean
      }
      expect(verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2))).toBe(!v.wantErr)
    })
  }
})

describe('generated proofs', () => {
  const leaves = Array.from({length: 70}, (_, i) => leafHash(Buffer.from(`entry ${i}`)))

  it('every inclusion proof for sizes 1..70 verifies, and fails for another leaf', () => {
    for (let size = 1; size <= 70; size++) {
      const root = rootOf(leaves, 0, size)
      for (let i = 0; i < size; i++) {
        const proof = inclusionProof(leaves, i, size)
        expect(verifyInclusion(i, size, leaves[i] as Buffer, proof, root)).toBe(true)
        if (size > 1) expect(verifyInclusion(i, size, leaves[(i + 1) % size] as Buffer, proof, root)).toBe(false)
      }
    }
  })

  it('every consistency proof between sizes verifies, and fails for a tampered root', () => {
    for (let size2 = 1; size2 <= 40; size2++) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = consistencyProof(leaves, size1, size2)
        const root1 = rootOf(leaves, 0, size1)
        const root2 = rootOf(leaves, 0, size2)
        expect(verifyConsistency(size1, size2, proof, root1, root2)).toBe(true)
        expect(verifyConsistency(size1, size2, proof, leafHash(Buffer.from('x')), root2)).toBe(false)
      }
    }
  })
})

describe('MerkleTable: the same roots and proofs as the reference functions, from stored subtrees', () => {
  const leaves = Array.from({length: 130}, (_, i) => leafHash(Buffer.from(`entry ${i}`)))
  const table = new MerkleTable()
  for (const leaf of leaves) table.push(leaf)

  it('every prefix root, inclusion and consistency proof equals the reference', () => {
    expect(table.size).toBe(130)
    expect(table.root(0).equals(rootOf([], 0, 0))).toBe(true)
    for (let size = 1; size <= 130; size++) {
      expect(table.root(size).equals(rootOf(leaves, 0, size))).toBe(true)
      for (const i of [0, Math.floor(size / 2), size - 1]) expect(table.inclusionProof(i, size)).toEqual(inclusionProof(leaves, i, size))
      for (const m of [1, Math.max(1, Math.floor(size / 3)), size])
        expect(table.consistencyProof(m, size)).toEqual(consistencyProof(leaves, m, size))
    }
  })

  it('refuses ranges outside the tree', () => {
    expect(() => table.rangeRoot(0, 131)).toThrow(RangeError)
    expect(() => table.inclusionProof(130, 130)).toThrow(RangeError)
    expect(() => table.consistencyProof(0, 10)).toThrow(RangeError)
  })
})

describe('the consistency check between anchored heads can fail (issue 13 point 4)', () => {
  const original = Array.from({length: 40}, (_, i) => leafHash(Buffer.from(`entry ${i}`)))
  const head = (leaves: Buffer[], size: number) => ({size, root: `0x${rootOf(leaves, 0, size).toString('hex')}`})
  const tableOf = (leaves: Buffer[]): MerkleTable => {
    const t = new MerkleTable()
    for (const leaf of leaves) t.push(leaf)
    return t
  }

  it('holds for the log the heads were signed over', () => {
    expect(consistentWith(tableOf(original), head(original, 13), head(original, 40))).toBe(true)
  })

  it('fails when the prefix the older head covers was rewritten, even though the newer root matches the rewritten log', () => {
    const rewritten = original.map((leaf, i) => (i === 5 ? leafHash(Buffer.from('rewritten')) : leaf))
    // the newer head as an attacker would re-sign it over the rewritten log: only the older recorded root gives it away
    expect(consistentWith(tableOf(rewritten), head(original, 13), head(rewritten, 40))).toBe(false)
    // and the genuine newer head against the rewritten log fails too
    expect(consistentWith(tableOf(rewritten), head(original, 13), head(original, 40))).toBe(false)
  })

  it('fails when an entry between the two heads was changed', () => {
    const changed = original.map((leaf, i) => (i === 30 ? leafHash(Buffer.from('changed')) : leaf))
    expect(consistentWith(tableOf(changed), head(original, 13), head(original, 40))).toBe(false)
  })
})
