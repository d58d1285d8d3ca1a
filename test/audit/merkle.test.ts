import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {consistencyProof, inclusionProof, leafHash, rootOf, verifyConsistency, verifyInclusion} from '../../src/lib/audit/merkle.js'
import {repoRoot} from '../helpers/cli.js'

const vectors = join(repoRoot, 'test', 'fixtures', 'merkle-vectors')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : name.endsWith('.json') ? [join(dir, name)] : []))
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
      const v = JSON.parse(readFileSync(file, 'utf8')) as {leafIdx: number; treeSize: number; root: string; leafHash: string; proof: string[] | null; wantErr: boolean}
      expect(verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root))).toBe(!v.wantErr)
    })
  }

  for (const file of consistency) {
    it(`consistency ${file.slice(vectors.length + 1)}`, () => {
      const v = JSON.parse(readFileSync(file, 'utf8')) as {size1: number; size2: number; root1: string; root2: string; proof: string[] | null; wantErr: boolean}
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
