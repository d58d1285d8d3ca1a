import {
  createCipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto'
import {bech32} from '@scure/base'
import {MedctlError} from '../core/errors.js'

/**
 * The writing half of the age v1 format (age-encryption.org/v1) for X25519 recipients, on Node's
 * native crypto: what an import does for every object (a fresh identity, the object encrypted to
 * it, its key wrapped to the custodian) costs ~0.2 ms of X25519 here against ~3 ms through
 * WebCrypto key imports. Reading stays with the age-encryption package and the `age` command,
 * which the tests use to open what this writes.
 *
 * No KeyObject here comes from generateKeyPair: on Node 20, exporting a key as JWK while the
 * collector finalises a key-generation job deadlocks the process (seen here, ~1 run in 2 of a loop
 * of a few thousand). Scalars come from randomBytes and are imported as JWK (OpenSSL derives the
 * public point from `d`; the `x` member is required by the parser and not used).
 */

const HRP_RECIPIENT = 'age'
const HRP_IDENTITY = 'AGE-SECRET-KEY-'
const X25519_INFO = 'age-encryption.org/v1/X25519'
const CHUNK = 64 * 1024
const TAG = 16
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const UNUSED_X = Buffer.alloc(32).toString('base64url')
const BASE_POINT = createPublicKey({
  key: Buffer.concat([SPKI_X25519_PREFIX, Buffer.from([9, ...new Uint8Array(31)])]),
  format: 'der',
  type: 'spki',
})

export interface X25519Identity {
  /** AGE-SECRET-KEY-1… */
  identity: string
  /** age1… */
  recipient: string
}

function privateKeyOf(scalar: Uint8Array): KeyObject {
  return createPrivateKey({key: {kty: 'OKP', crv: 'X25519', d: Buffer.from(scalar).toString('base64url'), x: UNUSED_X}, format: 'jwk'})
}

/** The public point: X25519(scalar, 9), the shared secret with the base point (cheaper than exporting the public key as SPKI). */
function publicPointOf(privateKey: KeyObject): Buffer {
  return diffieHellman({privateKey, publicKey: BASE_POINT})
}

/** A fresh X25519 identity and its recipient, in age's encodings. */
export function newX25519Identity(): X25519Identity {
  const scalar = randomBytes(32)
  const point = publicPointOf(privateKeyOf(scalar))
  return {
    identity: bech32.encodeFromBytes(HRP_IDENTITY, scalar).toUpperCase(),
    recipient: bech32.encodeFromBytes(HRP_RECIPIENT, point),
  }
}

/** The age1… recipient of an AGE-SECRET-KEY-1… identity (the identity's public point). */
export function recipientOf(identity: string): string {
  let decoded: {prefix: string; bytes: Uint8Array}
  try {
    decoded = bech32.decodeToBytes(identity.toLowerCase())
  } catch (error) {
    throw new MedctlError('E_BAD_IDENTITY', 'An age identity must be an AGE-SECRET-KEY-1… X25519 identity.', {cause: error})
  }
  if (decoded.prefix !== HRP_IDENTITY.toLowerCase() || decoded.bytes.length !== 32)
    throw new MedctlError('E_BAD_IDENTITY', 'An age identity must be an AGE-SECRET-KEY-1… X25519 identity.')
  return bech32.encodeFromBytes(HRP_RECIPIENT, publicPointOf(privateKeyOf(decoded.bytes)))
}

interface Recipient {
  point: Buffer
  key: KeyObject
}

const recipientCache = new Map<string, Recipient>()

function parseRecipient(recipient: string): Recipient {
  const cached = recipientCache.get(recipient)
  if (cached) return cached
  let decoded: {prefix: string; bytes: Uint8Array}
  try {
    decoded = bech32.decodeToBytes(recipient)
  } catch (error) {
    throw new MedctlError('E_BAD_RECIPIENT', 'An age recipient must be an age1… X25519 recipient.', {cause: error})
  }
  if (decoded.prefix !== HRP_RECIPIENT || decoded.bytes.length !== 32)
    throw new MedctlError('E_BAD_RECIPIENT', 'An age recipient must be an age1… X25519 recipient.')
  const point = Buffer.from(decoded.bytes)
  const parsed = {point, key: createPublicKey({key: Buffer.concat([SPKI_X25519_PREFIX, point]), format: 'der', type: 'spki'})}
  if (recipientCache.size > 1024) recipientCache.clear()
  recipientCache.set(recipient, parsed)
  return parsed
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32))
}

function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, {authTagLength: TAG})
  const body = cipher.update(plaintext)
  cipher.final()
  return Buffer.concat([body, cipher.getAuthTag()])
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64').replace(/=+$/, '')

/** A stanza body: unpadded base64 in lines of 64 columns, the last one always shorter (maybe empty). */
function wrapBody(bytes: Uint8Array): string {
  const text = b64(bytes)
  let out = ''
  for (let i = 0; i <= text.length; i += 64) out += `${text.slice(i, i + 64)}\n`
  return out
}

function x25519Stanza(fileKey: Uint8Array, recipient: Recipient): string {
  const ephemeral = privateKeyOf(randomBytes(32))
  const share = publicPointOf(ephemeral)
  let shared: Buffer
  try {
    shared = diffieHellman({privateKey: ephemeral, publicKey: recipient.key})
  } catch (error) {
    throw new MedctlError('E_BAD_RECIPIENT', 'This age recipient is not a usable X25519 key.', {cause: error})
  }
  if (shared.every((b) => b === 0)) throw new MedctlError('E_BAD_RECIPIENT', 'This age recipient is not a usable X25519 key.')
  const wrapKey = hkdf(shared, Buffer.concat([share, recipient.point]), X25519_INFO)
  return `-> X25519 ${b64(share)}\n${wrapBody(seal(wrapKey, Buffer.alloc(12), fileKey))}`
}

/** The header (file key wrapped to every recipient, MAC'd with the file key). */
function header(fileKey: Uint8Array, recipients: readonly string[]): Buffer {
  if (recipients.length === 0) throw new MedctlError('E_NO_RECIPIENT', 'An age file needs at least one recipient.')
  let text = 'age-encryption.org/v1\n'
  for (const recipient of recipients) text += x25519Stanza(fileKey, parseRecipient(recipient))
  text += '---'
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(text, 'latin1')
    .digest()
  return Buffer.from(`${text} ${b64(mac)}\n`, 'latin1')
}

/** The payload: a 16-byte nonce, then STREAM: 64 KiB chunks, each sealed with its counter and a last-chunk flag. */
function payload(fileKey: Uint8Array, plaintext: Uint8Array): Buffer[] {
  const nonce = randomBytes(16)
  const key = hkdf(fileKey, nonce, 'payload')
  const parts: Buffer[] = [nonce]
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK))
  const chunkNonce = Buffer.alloc(12)
  for (let i = 0; i < chunks; i++) {
    chunkNonce.writeUIntBE(i, 5, 6)
    chunkNonce[11] = i === chunks - 1 ? 1 : 0
    parts.push(seal(key, chunkNonce, plaintext.subarray(i * CHUNK, (i + 1) * CHUNK)))
  }
  return parts
}

/** `plaintext` as one standard age file to `recipients` (age1… X25519), in memory. */
export function ageEncrypt(plaintext: Uint8Array | string, recipients: readonly string[]): Buffer {
  const bytes = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext
  const fileKey = randomBytes(16)
  return Buffer.concat([header(fileKey, recipients), ...payload(fileKey, bytes)])
}
