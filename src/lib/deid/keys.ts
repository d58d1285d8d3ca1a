import {createHash, createHmac, hkdfSync} from 'node:crypto'

import {aessiv} from '@noble/ciphers/aes.js'

import {MedctlError, ExitCode} from '../core/errors.js'

/**
 * Keys of one export. Everything keyed in a de-identified dataset (resource pseudonyms, date
 * shifts, cryptoHash, encrypt, perturbation noise) derives from the 32-byte per-export key with
 * HKDF-SHA256 and a distinct label, so the same key gives the same output (determinism) and a
 * fresh key gives unlinkable output. The on-chain subject pseudonym key is never used here.
 *
 * One key per use and per algorithm: `pseudonym`, `dateShift`, `cryptoHash` and `noise` are
 * HMAC-SHA256 keys only; `encrypt` is an AES-SIV key (RFC 5297, 64 bytes, @noble/ciphers) only.
 */
export interface ExportKeys {
  pseudonym: Buffer
  dateShift: Buffer
  cryptoHash: Buffer
  encrypt: Buffer
  noise: Buffer
}

const SALT = Buffer.from('medctl/deid/v1', 'utf8')

function derive(master: Uint8Array, label: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', master, SALT, Buffer.from(label, 'utf8'), length))
}

/** A rule-file key string, as HKDF input keying material (SHA-256 of its UTF-8 bytes), derived for one use. */
function keyFromString(value: string, label: string, length = 32): Buffer {
  return derive(createHash('sha256').update(value, 'utf8').digest(), `rule-key/${label}`, length)
}

const ENCRYPT_LABEL = 'encrypt/aes-siv'

export interface KeyOverrides {
  dateShiftKey?: string
  cryptoHashKey?: string
  encryptKey?: string
}

export function deriveExportKeys(master: Uint8Array, overrides: KeyOverrides = {}): ExportKeys {
  if (!(master instanceof Uint8Array) || master.length !== 32) {
    throw new MedctlError('E_DEID_KEY', 'the per-export key must be exactly 32 bytes', {
      exitCode: ExitCode.USAGE,
      suggestions: ['generate one with: head -c 32 /dev/urandom > export.key'],
    })
  }
  return {
    pseudonym: derive(master, 'pseudonym'),
    dateShift: overrides.dateShiftKey ? keyFromString(overrides.dateShiftKey, 'date-shift') : derive(master, 'date-shift'),
    cryptoHash: overrides.cryptoHashKey ? keyFromString(overrides.cryptoHashKey, 'crypto-hash') : derive(master, 'crypto-hash'),
    encrypt: overrides.encryptKey ? keyFromString(overrides.encryptKey, ENCRYPT_LABEL, 64) : derive(master, ENCRYPT_LABEL, 64),
    noise: derive(master, 'perturb'),
  }
}

export function hmacHex(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex')
}

/** Per-export pseudonym of a source resource id: 32 hex characters (128 bits), a valid FHIR id. */
export function pseudonymId(keys: ExportKeys, sourceId: string): string {
  return hmacHex(keys.pseudonym, `id\u0000${sourceId}`).slice(0, 32)
}

/** The same pseudonym shaped as a UUID (for `urn:uuid:` references whose target is not exported). */
export function pseudonymUuid(keys: ExportKeys, sourceId: string): string {
  const h = pseudonymId(keys, sourceId)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

/** cryptoHash: HMAC-SHA256 of the value, lowercase hex (as the Microsoft Anonymizer does). */
export function cryptoHash(keys: ExportKeys, value: string): string {
  return hmacHex(keys.cryptoHash, value)
}

/**
 * encrypt: AES-SIV (RFC 5297) with the 64-byte encrypt key, from @noble/ciphers: deterministic
 * (the same value under the same key gives the same token, so equal values stay joinable) and
 * authenticated; output is base64(SIV[16] | ciphertext). No IV is built by hand.
 */
export function encryptValue(keys: ExportKeys, value: string): string {
  return Buffer.from(aessiv(keys.encrypt).encrypt(Buffer.from(value, 'utf8'))).toString('base64')
}

export function decryptValue(keys: ExportKeys, encoded: string): string {
  const raw = Buffer.from(encoded, 'base64')
  if (raw.length < 16) throw new MedctlError('E_DEID_DECRYPT', 'ciphertext too short')
  try {
    return Buffer.from(aessiv(keys.encrypt).decrypt(raw)).toString('utf8')
  } catch (error) {
    throw new MedctlError('E_DEID_DECRYPT', 'the token does not decrypt under this key', {cause: error})
  }
}

/** Date shift in whole days, uniform in [-range, +range], fixed for a scope value under a key. */
export function dateShiftDays(keys: ExportKeys, scopeValue: string, range: number): number {
  const h = createHmac('sha256', keys.dateShift).update(`shift\u0000${scopeValue}`, 'utf8').digest()
  return (h.readUInt32BE(0) % (2 * range + 1)) - range
}

/** Deterministic noise in [0, 1) for a perturbed node. */
export function noiseUnit(keys: ExportKeys, where: string): number {
  const h = createHmac('sha256', keys.noise).update(where, 'utf8').digest()
  return h.readUInt32BE(0) / 0x1_0000_0000
}
