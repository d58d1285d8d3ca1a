import {randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync} from 'node:fs'
import {join} from 'node:path'
import {Decrypter, Encrypter, generateX25519Identity, identityToRecipient} from 'age-encryption'
import {Wallet, encryptKeystoreJson, getAddress} from 'ethers'
import {MedctlError, usageError} from '../cli/errors.js'
import {ensurePrivateDir, type MedctlPaths} from './paths.js'

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
  if (!Number.isInteger(value) || value < 10 || value > 20) throw usageError('E_BAD_SETTING', 'MEDCTL_KDF_LOGN must be an integer from 10 to 20.')
  return value
}

export function writePrivateFile(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, data, {mode: 0o600})
  const fd = openSync(tmp, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

async function encryptWithPassphrase(plaintext: string, passphrase: string): Promise<Uint8Array> {
  const encrypter = new Encrypter()
  encrypter.setPassphrase(passphrase)
  encrypter.setScryptWorkFactor(kdfLogN())
  return encrypter.encrypt(plaintext)
}

async function decryptWithPassphrase(ciphertext: Uint8Array, passphrase: string): Promise<string> {
  const decrypter = new Decrypter()
  decrypter.addPassphrase(passphrase)
  try {
    return await decrypter.decrypt(ciphertext, 'text')
  } catch (error) {
    throw badPassphrase(error)
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

  private dir(name: string): string {
    return join(this.paths.keysDir, name)
  }

  exists(name: string): boolean {
    return existsSync(join(this.dir(name), INFO_FILE))
  }

  list(): IdentityInfo[] {
    if (!existsSync(this.paths.keysDir)) return []
    return readdirSync(this.paths.keysDir)
      .filter((name) => this.exists(name))
      .sort()
      .map((name) => this.info(name))
  }

  info(name: string): IdentityInfo {
    const file = join(this.dir(name), INFO_FILE)
    if (!existsSync(file)) {
      throw new MedctlError('E_IDENTITY_NOT_FOUND', `No identity named "${name}".`, {exitCode: 2, suggestions: ['Run `medctl keys generate`.']})
    }
    return JSON.parse(readFileSync(file, 'utf8')) as IdentityInfo
  }

  async generate(name: string, passphrase: string, options: {pseudonymKey: boolean}): Promise<IdentityInfo> {
    const wallet = Wallet.createRandom()
    return this.store({
      name,
      privateKey: wallet.privateKey,
      ageIdentity: await generateX25519Identity(),
      pseudonymKey: options.pseudonymKey ? randomBytes(32).toString('hex') : undefined,
    }, passphrase)
  }

  async import(data: unknown, passphrase: string, name?: string): Promise<IdentityInfo> {
    const parsed = parseExport(data)
    return this.store({name: name ?? parsed.name, privateKey: parsed.privateKey, ageIdentity: parsed.ageIdentity, pseudonymKey: parsed.pseudonymKey}, passphrase)
  }

  private async store(
    input: {name: string; privateKey: string; ageIdentity: string; pseudonymKey?: string},
    passphrase: string,
  ): Promise<IdentityInfo> {
    if (this.exists(input.name)) throw usageError('E_IDENTITY_EXISTS', `An identity named "${input.name}" already exists.`)
    if (passphrase.length < 8) throw usageError('E_WEAK_PASSPHRASE', 'The passphrase must have at least 8 characters.')
    const wallet = new Wallet(input.privateKey)
    const logN = kdfLogN()
    const walletJson = await encryptKeystoreJson({address: wallet.address, privateKey: wallet.privateKey}, passphrase, {scrypt: {N: 2 ** logN}})
    const ageFile = await encryptWithPassphrase(input.ageIdentity, passphrase)
    const pseudonymFile = input.pseudonymKey ? await encryptWithPassphrase(input.pseudonymKey, passphrase) : undefined
    const info: IdentityInfo = {
      name: input.name,
      address: wallet.address,
      recipient: await identityToRecipient(input.ageIdentity),
      hasPseudonymKey: Boolean(input.pseudonymKey),
      createdAt: new Date().toISOString(),
    }
    ensurePrivateDir(this.paths.keysDir)
    // Write into a staging directory and rename it: a crash leaves no half identity behind.
    const staging = `${this.dir(input.name)}.${process.pid}.staging`
    rmSync(staging, {recursive: true, force: true})
    mkdirSync(staging, {mode: 0o700})
    writePrivateFile(join(staging, WALLET_FILE), walletJson)
    writePrivateFile(join(staging, AGE_FILE), ageFile)
    if (pseudonymFile) writePrivateFile(join(staging, PSEUDONYM_FILE), pseudonymFile)
    writePrivateFile(join(staging, INFO_FILE), `${JSON.stringify(info, null, 2)}\n`)
    renameSync(staging, this.dir(input.name))
    return info
  }

  async unlock(name: string, passphrase: string): Promise<UnlockedIdentity> {
    const cached = this.unlocked.get(name)
    if (cached) return cached
    const info = this.info(name)
    const dir = this.dir(name)
    let wallet: Wallet
    try {
      const decrypted = await Wallet.fromEncryptedJson(readFileSync(join(dir, WALLET_FILE), 'utf8'), passphrase)
      wallet = new Wallet(decrypted.privateKey)
    } catch (error) {
      throw badPassphrase(error)
    }
    const ageIdentity = (await decryptWithPassphrase(readFileSync(join(dir, AGE_FILE)), passphrase)).trim()
    const pseudonymHex = info.hasPseudonymKey ? (await decryptWithPassphrase(readFileSync(join(dir, PSEUDONYM_FILE)), passphrase)).trim() : undefined
    if (getAddress(wallet.address) !== getAddress(info.address)) {
      throw new MedctlError('E_KEYSTORE_CORRUPT', `The wallet of identity "${name}" does not match its recorded address.`)
    }
    const unlocked: UnlockedIdentity = {...info, wallet, ageIdentity, pseudonymKey: pseudonymHex ? Buffer.from(pseudonymHex, 'hex') : undefined}
    this.unlocked.set(name, unlocked)
    return unlocked
  }

  async export(name: string, passphrase: string): Promise<IdentityExport> {
    const identity = await this.unlock(name, passphrase)
    return {
      format: 'medctl-identity/1',
      name,
      address: identity.address,
      privateKey: identity.wallet.privateKey,
      recipient: identity.recipient,
      ageIdentity: identity.ageIdentity,
      ...(identity.pseudonymKey ? {pseudonymKey: identity.pseudonymKey.toString('hex')} : {}),
    }
  }

  remove(name: string): void {
    this.unlocked.delete(name)
    rmSync(this.dir(name), {recursive: true, force: true})
  }
}

function parseExport(data: unknown): IdentityExport {
  const value = data as Partial<IdentityExport> | null
  if (!value || typeof value !== 'object' || value.format !== 'medctl-identity/1') {
    throw usageError('E_BAD_IDENTITY_FILE', 'The file is not a medctl identity export (format "medctl-identity/1").')
  }
  if (typeof value.privateKey !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value.privateKey)) throw usageError('E_BAD_IDENTITY_FILE', 'privateKey must be 0x followed by 64 hex digits.')
  if (typeof value.ageIdentity !== 'string' || !value.ageIdentity.startsWith('AGE-SECRET-KEY-1')) throw usageError('E_BAD_IDENTITY_FILE', 'ageIdentity must be an AGE-SECRET-KEY-1… string.')
  if (value.pseudonymKey !== undefined && !/^[0-9a-f]{64}$/.test(value.pseudonymKey)) throw usageError('E_BAD_IDENTITY_FILE', 'pseudonymKey must be 64 hex digits.')
  if (typeof value.name !== 'string') throw usageError('E_BAD_IDENTITY_FILE', 'name is missing.')
  return value as IdentityExport
}
