import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import {afterAll, describe, expect, it} from 'vitest'
import {attachmentFileName, writeAttachment} from '../../src/lib/access/index.js'
import {EmbeddedStore, readAll} from '../../src/lib/ipfs/index.js'
import type {AttachmentInfo} from '../../src/lib/vault/attach.js'
import {decryptObject, decryptObjectStream, encryptObjectStream, newObjectKey} from '../../src/lib/vault/crypto.js'

const SIZE = 1024 * 1024 + 777

async function* chunks(bytes: Buffer, size = 100_000): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('streamed age encryption into the store, and the checked write of an attachment', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medctl-attach-stream-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))
  const content = randomBytes(SIZE)
  const sha256 = createHash('sha256').update(content).digest('hex')

  async function stored() {
    const db = new Database(':memory:')
    const store = new EmbeddedStore(db)
    const key = await newObjectKey()
    const {cid, size} = await store.addStream(() => encryptObjectStream(chunks(content), key.recipient))
    return {db, store, key, cid, size}
  }

  it('the stream is one standard age file across many 64 KiB chunks and 256 KiB blocks', async () => {
    const {store, key, cid, size} = await stored()
    expect(CID.parse(cid).code).toBe(0x70)
    const ciphertext = await readAll(store.cat(cid))
    expect(ciphertext.length).toBe(size)
    // The one-shot decrypter (not the streaming one) reads it: the format is age's, not ours.
    expect(Buffer.from(await decryptObject(ciphertext, key.identity)).equals(content)).toBe(true)
    expect((await readAll(decryptObjectStream(store.cat(cid), key.identity))).equals(content)).toBe(true)
  })

  it('writes the file when SHA-256 and size match; refuses a mismatch and leaves nothing behind', async () => {
    const {store, key, cid} = await stored()
    const info: AttachmentInfo = {documentReference: 'doc-1', cid, sha256, size: SIZE, contentType: 'application/zip'}
    const good = join(dir, 'good.zip')
    expect(await writeAttachment(store, cid, key.identity, info, good)).toBe(SIZE)
    expect(readFileSync(good).equals(content)).toBe(true)
    const bad = join(dir, 'bad.zip')
    await expect(writeAttachment(store, cid, key.identity, {...info, sha256: '0'.repeat(64)}, bad)).rejects.toMatchObject({
      code: 'E_ATTACHMENT_MISMATCH',
      exitCode: 4,
    })
    await expect(writeAttachment(store, cid, key.identity, {...info, size: SIZE + 1}, bad)).rejects.toMatchObject({
      code: 'E_ATTACHMENT_MISMATCH',
    })
    expect(existsSync(bad)).toBe(false)
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([])
  })

  it('a truncated or tampered ciphertext is E_DECRYPT and nothing is written', async () => {
    const {store, key, cid} = await stored()
    const ciphertext = await readAll(store.cat(cid))
    const info: AttachmentInfo = {documentReference: 'doc-2', cid, sha256, size: SIZE, contentType: 'application/zip'}
    const source = (bytes: Buffer) => ({cat: () => chunks(bytes, 262_144), has: async () => true, getBlock: async () => undefined})
    const truncated = ciphertext.subarray(0, ciphertext.length - 70_000)
    const out = join(dir, 'truncated.zip')
    await expect(writeAttachment(source(truncated), cid, key.identity, info, out)).rejects.toMatchObject({code: 'E_DECRYPT', exitCode: 4})
    const flipped = Buffer.from(ciphertext)
    flipped[flipped.length - 100_000] = (flipped[flipped.length - 100_000] as number) ^ 0x80
    await expect(writeAttachment(source(flipped), cid, key.identity, info, out)).rejects.toMatchObject({code: 'E_DECRYPT'})
    expect(existsSync(out)).toBe(false)
    const other = await newObjectKey()
    await expect(writeAttachment(source(ciphertext), cid, other.identity, info, out)).rejects.toMatchObject({code: 'E_DECRYPT'})
    expect(existsSync(out)).toBe(false)
  })

  it('names files after a plain title, else the DocumentReference id, never a path, each once', () => {
    const used = new Set<string>()
    expect(attachmentFileName({documentReference: 'd1', title: 'mri.zip'}, used)).toBe('mri.zip')
    expect(attachmentFileName({documentReference: 'd2', title: 'mri.zip'}, used)).toBe('d2-mri.zip')
    expect(attachmentFileName({documentReference: 'd3', title: '../../etc/passwd'}, used)).toBe('d3.bin')
    expect(attachmentFileName({documentReference: 'd4', title: '.bashrc'}, used)).toBe('d4.bin')
    expect(attachmentFileName({documentReference: 'a/b', title: undefined}, used)).toBe('a_b.bin')
  })
})
