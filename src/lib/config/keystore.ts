import {randomBytes} from 'node:crypto'
import {appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {Wallet, encryptKeystoreJson, getAddress, isKeystoreJson} from 'ethers'
import {MedctlError, fromSystemError, usageError} from '../core/errors.js'
import {writeFileAtomic} from '../core/atomic.js'
import {ensurePrivateDir, isSafeName, safeChildPath, type MedctlPaths} from './paths.js'
import {newX25519Identity, recipientOf} from '../age/writer.js'

/**
 * An identity: an Ethereum key (ethers encrypted JSON keystore), an age X25519 identity
 * (age scrypt-encrypted with the same passphrase) and, for a custodian, a pseudonym key
 * (32 bytes, likewise encrypted). Public parts sit in identity.json so listing needs no passphrase.
 * Every file is mode 0600 in a 0700 directory.
 */
export interface IdentityInfo {
  name: string
  address: string
  recipient: string
  hasPseudonymKey: boolean
  createdAt: string
}

export interface UnlockedIdentity extends IdentityInfo {
  wallet: Wallet
  ageIdentity: string
  pseudonymKey?: Buffer
}

export interface IdentityExport {
  format: 'medctl-identity/1'
  name: string
  address: string
  privateKey: string
  recipient: string
  ageIdentity: string
  pseudonymKey?: string
}

const WALLET_FILE = 'wallet.json'
const AGE_FILE = 'age-identity.age'
const PSEUDONYM_FILE = 'pseudonym-key.age'
const INFO_FILE = 'identity.json'

/** scrypt cost as log2(N). Production default 17; MEDCTL_KDF_LOGN lowers it for test suites only. */
export function kdfLogN(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MEDCTL_KDF_LOGN
  if (!raw) return 17
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 10 || value > 20)
    throw usageError('E_BAD_SETTING', 'MEDCTL_KDF_LOGN must be an integer from 10 to 20.')
  return value
}

/**
 * Debugging aid (the unlocked-session tests use it): with MEDCTL_DEBUG_KDF_LOG=FILE, every
 * passphrase key derivation (scrypt, for the wallet keystore or an age file) appends one line
 * naming what it derived for, so a test can show that a command did none. Off by default.
 */
function noteKdf(what: string): void {
  const file = process.env.MEDCTL_DEBUG_KDF_LOG
  if (file) appendFileSync(file, `${what}\n`)
}

/** A private (0600) file written atomically; see writeFileAtomic (temp removed on failure). */
export function writePrivateFile(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, data, {mode: 0o600})
}

/** The age reader (scrypt recipients) loads only when a key file is opened with the passphrase: not under an unlocked session (start-up). */
const loadAge = () => import('age-encryption')

async function encryptWithPassphrase(plaintext: string, passphrase: string): Promise<Uint8Array> {
  noteKdf('age-encrypt')
  const {Encrypter} = await loadAge()
  const encrypter = new Encrypter()
  encrypter.setPassphrase(passphrase)
  encrypter.setScryptWorkFactor(kdfLogN())
  return encrypter.encrypt(plaintext)
}

async function decryptWithPassphrase(ciphertext: Uint8Array, passphrase: string): Promise<string> {
  noteKdf('age-decrypt')
  const {Decrypter} = await loadAge()
  const decrypter = new Decrypter()
  decrypter.addPassphrase(passphrase)
  try {
    return await decrypter.decrypt(ciphertext, 'text')
  } catch (error) {
    throw badPassphrase(error)
  }
}

const AGE_HEADER = 'age-encryption.org/v1\n'

function corrupt(file: string, what: string, cause?: unknown): MedctlError {
  return new MedctlError('E_CORRUPT_KEYSTORE', `${what} (${file}) is damaged or not what medctl wrote.`, {
    cause,
    suggestions: ['Restore the identity from a backup made with `medctl keys export` (`medctl keys import --file BACKUP`).'],
    details: {file},
  })
}

function missingKey(file: string, what: string, cause?: unknown): MedctlError {
  return new MedctlError('E_MISSING_KEY', `${what} is missing: ${file} does not exist.`, {
    cause,
    suggestions: ['Restore the identity from a backup made with `medctl keys export` (`medctl keys import --file BACKUP`).'],
    details: {file},
  })
}

/** Reads one key file: absent -> E_MISSING_KEY, unreadable -> its stable code. */
function readKeyFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missingKey(file, what, error)
    throw fromSystemError(error, file) ?? error
  }
}

/** An age file encrypted with the passphrase: a damaged one is not a bad passphrase. */
async function decryptKeyFile(file: string, what: string, passphrase: string): Promise<string> {
  const bytes = readKeyFile(file, what)
  if (!bytes.subarray(0, AGE_HEADER.length).equals(Buffer.from(AGE_HEADER))) throw corrupt(file, what)
  return decryptWithPassphrase(bytes, passphrase)
}

function parseInfo(raw: string, file: string, name: string): IdentityInfo {
  let value: Partial<IdentityInfo>
  try {
    value = JSON.parse(raw) as Partial<IdentityInfo>
  } catch (error) {
    throw corrupt(file, `The public record of identity "${name}"`, error)
  }
  const ok =
    value !== null &&
    typeof value === 'object' &&
    typeof value.address === 'string' &&
    /^0x[0-9a-fA-F]{40}$/.test(value.address) &&
    typeof value.recipient === 'string' &&
    value.recipient.startsWith('age1') &&
    typeof value.hasPseudonymKey === 'boolean'
  if (!ok) throw corrupt(file, `The public record of identity "${name}"`)
  // The directory names the identity, whatever the file says.
  return {
    name,
    address: value.address as string,
    recipient: value.recipient as string,
    hasPseudonymKey: value.hasPseudonymKey as boolean,
    createdAt: typeof value.createdAt === 'string' ? value.createdAt : '',
  }
}

function badPassphrase(cause: unknown): MedctlError {
  return new MedctlError('E_BAD_PASSPHRASE', 'The passphrase does not unlock this identity.', {
    cause,
    suggestions: ['Check MEDCTL_PASSPHRASE, or type the passphrase the identity was created with.'],
  })
}

export class Keystore {
  private readonly unlocked = new Map<string, UnlockedIdentity>()

  constructor(private readonly paths: MedctlPaths) {}

  /** The identity's directory: the name is checked to stay a direct child of keys/ (E_BAD_KEY_NAME). */
  private dir(name: string): string {
    return safeChildPath(this.paths.keysDir, name, {what: 'identity', code: 'E_BAD_KEY_NAME'})
  }

  exists(name: string): boolean {
    return existsSync(join(this.dir(name), INFO_FILE))
  }

  list(): IdentityInfo[] {
    if (!existsSync(this.paths.keysDir)) return []
    return readdirSync(this.paths.keysDir)
      .filter((name) => isSafeName(name) && this.exists(name))
      .sort()
      .map((name) => this.info(name))
  }

  info(name: string): IdentityInfo {
    const file = join(this.dir(name), INFO_FILE)
    if (!existsSync(file)) {
      throw new MedctlError('E_IDENTITY_NOT_FOUND', `No identity named "${name}".`, {
        exitCode: 2,
        suggestions: ['Run `medctl keys generate`.'],
      })
    }
    let raw: string
    try {
      raw = readFileSync(file, 'utf8')
    } catch (error) {
      throw fromSystemError(error, file) ?? error
    }
    return parseInfo(raw, file, name)
  }

  async generate(name: string, passphrase: string, options: {pseudonymKey: boolean}): Promise<IdentityInfo> {
    const wallet = Wallet.createRandom()
    return this.store(
      {
        name,
        privateKey: wallet.privateKey,
        ageIdentity: newX25519Identity().identity,
        pseudonymKey: options.pseudonymKey ? randomBytes(32).toString('hex') : undefined,
      },
      passphrase,
    )
  }

  async import(data: unknown, passphrase: string, name?: string): Promise<IdentityInfo> {
    const parsed = await parseExport(data)
    const target = name ?? parsed.name
    // Checked before anything is written: a name from a file never becomes a path unchecked.
    this.dir(target)
    return this.store(
      {name: target, privateKey: parsed.privateKey, ageIdentity: parsed.ageIdentity, pseudonymKey: parsed.pseudonymKey},
      passphrase,
    )
  }

  private async store(
    input: {name: string; privateKey: string; ageIdentity: string; pseudonymKey?: string},
    passphrase: string,
  ): Promise<IdentityInfo> {
    if (this.exists(input.name)) throw usageError('E_IDENTITY_EXISTS', `An identity named "${input.name}" already exists.`)
    if (passphrase.length < 8) throw usageError('E_WEAK_PASSPHRASE', 'The passphrase must have at least 8 characters.')
    const wallet = new Wallet(input.privateKey)
    const logN = kdfLogN()
    noteKdf('wallet-encrypt')
    const walletJson = await encryptKeystoreJson({address: wallet.address, privateKey: wallet.privateKey}, passphrase, {
      scrypt: {N: 2 ** logN},
    })
    const ageFile = await encryptWithPassphrase(input.ageIdentity, passphrase)
    const pseudonymFile = input.pseudonymKey ? await encryptWithPassphrase(input.pseudonymKey, passphrase) : undefined
    const info: IdentityInfo = {
      name: input.name,
      address: wallet.address,
      recipient: recipientOf(input.ageIdentity),
      hasPseudonymKey: Boolean(input.pseudonymKey),
      createdAt: new Date().toISOString(),
    }
    ensurePrivateDir(this.paths.keysDir)
    // Write into a staging directory and rename it: a crash leaves no half identity behind, and a
    // failure (a full disk) removes the staging directory.
    const target = this.dir(input.name)
    const staging = `${target}.${process.pid}.staging`
    try {
      rmSync(staging, {recursive: true, force: true})
      mkdirSync(staging, {mode: 0o700})
      writePrivateFile(join(staging, WALLET_FILE), walletJson)
      writePrivateFile(join(staging, AGE_FILE), ageFile)
      if (pseudonymFile) writePrivateFile(join(staging, PSEUDONYM_FILE), pseudonymFile)
      writePrivateFile(join(staging, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`)
      renameSync(staging, target)
    } catch (error) {
      rmSync(staging, {recursive: true, force: true})
      throw fromSystemError(error, target) ?? error
    }
    return info
  }

  async unlock(name: string, passphrase: string): Promise<UnlockedIdentity> {
    const cached = this.unlocked.get(name)
    if (cached) return cached
    const info = this.info(name)
    const dir = this.dir(name)
    const walletFile = join(dir, WALLET_FILE)
    const walletJson = readKeyFile(walletFile, `The Ethereum key of identity "${name}"`).toString('utf8')
    if (!isKeystoreJson(walletJson)) throw corrupt(walletFile, `The Ethereum key of identity "${name}"`)
    let wallet: Wallet
    try {
      noteKdf('wallet-decrypt')
      const decrypted = await Wallet.fromEncryptedJson(walletJson, passphrase)
      wallet = new Wallet(decrypted.privateKey)
    } catch (error) {
      throw badPassphrase(error)
    }
    const ageIdentity = (await decryptKeyFile(join(dir, AGE_FILE), `The age identity of "${name}"`, passphrase)).trim()
    const pseudonymHex = info.hasPseudonymKey
      ? (await decryptKeyFile(join(dir, PSEUDONYM_FILE), `The pseudonym key of "${name}"`, passphrase)).trim()
      : undefined
    if (pseudonymHex !== undefined && !/^[0-9a-f]{64}$/.test(pseudonymHex))
      throw corrupt(join(dir, PSEUDONYM_FILE), `The pseudonym key of "${name}"`)
    if (getAddress(wallet.address) !== getAddress(info.address)) {
      throw corrupt(walletFile, `The wallet of identity "${name}" does not match its recorded address; it`)
    }
    const unlocked: UnlockedIdentity = {
      ...info,
      wallet,
      ageIdentity,
      pseudonymKey: pseudonymHex ? Buffer.from(pseudonymHex, 'hex') : undefined,
    }
    this.unlocked.set(name, unlocked)
    return unlocked
  }

  async export(name: string, passphrase: string): Promise<IdentityExport> {
    return exportIdentity(await this.unlock(name, passphrase))
  }

  remove(name: string): void {
    this.unlocked.delete(name)
    rmSync(this.dir(name), {recursive: true, force: true})
  }
}

/** An unlocked identity in the "medctl-identity/1" format that `keys import` reads. */
export function exportIdentity(identity: UnlockedIdentity): IdentityExport {
  return {
    format: 'medctl-identity/1',
    name: identity.name,
    address: identity.address,
    privateKey: identity.wallet.privateKey,
    recipient: identity.recipient,
    ageIdentity: identity.ageIdentity,
    ...(identity.pseudonymKey ? {pseudonymKey: identity.pseudonymKey.toString('hex')} : {}),
  }
}

/** Checks an identity export completely (keys usable, name safe) before anything is written. */
async function parseExport(data: unknown): Promise<IdentityExport> {
  const value = data as Partial<IdentityExport> | null
  if (!value || typeof value !== 'object' || Array.isArray(value) || value.format !== 'medctl-identity/1') {
    throw usageError('E_BAD_IDENTITY_FILE', 'The file is not a medctl identity export (format "medctl-identity/1").')
  }
  if (typeof value.privateKey !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value.privateKey))
    throw usageError('E_BAD_IDENTITY_FILE', 'privateKey must be 0x followed by 64 hex digits.')
  let address: string
  try {
    address = new Wallet(value.privateKey).address
  } catch {
    throw usageError('E_BAD_IDENTITY_FILE', 'privateKey is not a valid secp256k1 private key.')
  }
  if (typeof value.ageIdentity !== 'string' || !/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(value.ageIdentity))
    throw usageError('E_BAD_IDENTITY_FILE', 'ageIdentity must be an AGE-SECRET-KEY-1… string.')
  let recipient: string
  try {
    recipient = recipientOf(value.ageIdentity)
  } catch {
    throw usageError('E_BAD_IDENTITY_FILE', 'ageIdentity is not a valid age X25519 identity.')
  }
  if (value.pseudonymKey !== undefined && (typeof value.pseudonymKey !== 'string' || !/^[0-9a-f]{64}$/.test(value.pseudonymKey)))
    throw usageError('E_BAD_IDENTITY_FILE', 'pseudonymKey must be 64 hex digits.')
  if (typeof value.name !== 'string') throw usageError('E_BAD_IDENTITY_FILE', 'name is missing.')
  if (value.address !== undefined && (typeof value.address !== 'string' || value.address.toLowerCase() !== address.toLowerCase())) {
    throw usageError('E_BAD_IDENTITY_FILE', 'address does not belong to privateKey.')
  }
  if (value.recipient !== undefined && value.recipient !== recipient)
    throw usageError('E_BAD_IDENTITY_FILE', 'recipient does not belong to ageIdentity.')
  return value as IdentityExport
}
