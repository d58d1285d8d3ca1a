import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Decrypter, generateX25519Identity, identityToRecipient} from 'age-encryption'
import {afterAll, describe, expect, it} from 'vitest'
import {ageEncrypt, newX25519Identity, recipientOf} from '../../src/lib/age/writer.js'

// Our age writer is checked only by readers we did not write: the age-encryption package (typage)
// and the Debian `age` command (Go).
const work = mkdtempSync(join(tmpdir(), 'medctl-age-writer-'))
afterAll(() => rmSync(work, {recursive: true, force: true}))

async function openWithTypage(file: Uint8Array, identity: string): Promise<Buffer> {
  const decrypter = new Decrypter()
  decrypter.addIdentity(identity)
  return Buffer.from(await decrypter.decrypt(file))
}

function openWithAgeCli(file: Uint8Array, identity: string, name: string): Buffer {
  writeFileSync(join(work, `${name}.key`), `${identity}\n`, {mode: 0o600})
  writeFileSync(join(work, `${name}.age`), file)
  return execFileSync('age', ['-d', '-i', join(work, `${name}.key`), join(work, `${name}.age`)], {
    maxBuffer: 16 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

describe('age writer (X25519, native crypto)', () => {
  it('makes identities whose recipient is what age-encryption derives from the identity', async () => {
    for (let i = 0; i < 20; i++) {
      const {identity, recipient} = newX25519Identity()
      expect(identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/)
      expect(await identityToRecipient(identity)).toBe(recipient)
    }
  })

  it('derives the recipient of an identity made by age-encryption exactly as age-encryption does', async () => {
    for (let i = 0; i < 20; i++) {
      const identity = await generateX25519Identity()
      expect(recipientOf(identity)).toBe(await identityToRecipient(identity))
    }
    expect(() => recipientOf('AGE-SECRET-KEY-1NOTANIDENTITY')).toThrow(expect.objectContaining({code: 'E_BAD_IDENTITY'}))
    expect(() => recipientOf(newX25519Identity().recipient)).toThrow(expect.objectContaining({code: 'E_BAD_IDENTITY'}))
  })

  // Sizes around the 64 KiB STREAM chunk: empty, one byte, a full chunk, one over, two full chunks.
  const sizes = [0, 1, 65_535, 65_536, 65_537, 131_072, 200_000]
  it.each(sizes)('a %i-byte file opens with age-encryption and with the age command', async (size) => {
    const plaintext = Buffer.alloc(size)
    for (let i = 0; i < size; i++) plaintext[i] = (i * 31 + 7) & 0xff
    const {identity, recipient} = newX25519Identity()
    const file = ageEncrypt(plaintext, [recipient])
    expect((await openWithTypage(file, identity)).equals(plaintext)).toBe(true)
    expect(openWithAgeCli(file, identity, `size-${size}`).equals(plaintext)).toBe(true)
  })

  it('wraps the file key to every recipient: each opens it alone, an outsider cannot', async () => {
    const a = newX25519Identity()
    const b = newX25519Identity()
    const outsider = newX25519Identity()
    const file = ageEncrypt('shared text', [a.recipient, b.recipient])
    expect((await openWithTypage(file, a.identity)).toString()).toBe('shared text')
    expect(openWithAgeCli(file, b.identity, 'second').toString()).toBe('shared text')
    await expect(openWithTypage(file, outsider.identity)).rejects.toThrow()
    expect(() => openWithAgeCli(file, outsider.identity, 'outsider')).toThrow()
  })

  it('authenticates header and payload: a flipped byte anywhere makes both readers refuse', async () => {
    const {identity, recipient} = newX25519Identity()
    const file = ageEncrypt(Buffer.alloc(70_000, 7), [recipient])
    const headerEnd = file.indexOf('\n---') + 1
    for (const at of [30, headerEnd + 5, headerEnd + 60, file.length - 1]) {
      const tampered = Buffer.from(file)
      tampered[at] = (tampered[at] as number) ^ 1
      await expect(openWithTypage(tampered, identity)).rejects.toThrow()
      expect(() => openWithAgeCli(tampered, identity, `flip-${at}`)).toThrow()
    }
  })

  it('uses a fresh file key and ephemeral share every time', () => {
    const {recipient} = newX25519Identity()
    const one = ageEncrypt('same', [recipient])
    const two = ageEncrypt('same', [recipient])
    expect(one.equals(two)).toBe(false)
    expect(one.subarray(0, 60).toString('latin1')).not.toBe(two.subarray(0, 60).toString('latin1'))
  })

  it('refuses a malformed recipient, a wrong prefix, a low-order point and no recipient at all', () => {
    expect(() => ageEncrypt('x', ['age1notarecipient'])).toThrow(expect.objectContaining({code: 'E_BAD_RECIPIENT'}))
    expect(() => ageEncrypt('x', [newX25519Identity().identity])).toThrow(expect.objectContaining({code: 'E_BAD_RECIPIENT'}))
    // The all-zero point: the shared secret would be zero, which age forbids.
    const zero = 'age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z'
    expect(() => ageEncrypt('x', [zero])).toThrow(expect.objectContaining({code: 'E_BAD_RECIPIENT'}))
    expect(() => ageEncrypt('x', [])).toThrow(expect.objectContaining({code: 'E_NO_RECIPIENT'}))
  })

  it('does not hang over thousands of keys (Node 20 JWK-export deadlock avoided)', () => {
    const {recipient} = newX25519Identity()
    const shares = new Set<string>()
    for (let i = 0; i < 5000; i++) shares.add(ageEncrypt('k', [recipient]).toString('latin1').split('\n')[1] as string)
    expect(shares.size).toBe(5000)
  })
})
