import {existsSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {FetchRequest, HDNodeWallet, JsonRpcProvider, getAddress, isAddress, verifyTypedData, type Wallet} from 'ethers'
import {chainRead, decodeChainError, isTransientRpc} from '../chain/client.js'
import {ExitCode, MedctlError, quoteInput, usageError} from '../core/errors.js'
import {auditConsent} from '../consent/audit.js'
import {consentContext} from '../consent/context.js'
import {
  RECIPIENT_TYPES,
  grantDomain,
  lookupRecipient,
  publishRecipient,
  recipientNonce,
  recipientToBytes32,
  registryContract,
  relayRecipientRegistration,
  signRecipientRegistration,
  type RecipientRegistration,
} from '../chain/registry.js'
import {writeFileAtomic} from '../core/atomic.js'
import {Keystore} from '../config/keystore.js'
import type {MedctlPaths} from '../config/paths.js'
import {LOCAL_CHAIN_ID, ProfileStore, validateProfileName, type NetworkMembership, type Profile} from '../config/profiles.js'
import {DEFAULT_RPC_TIMEOUT_MS, type Session} from '../session/session.js'

/**
 * Joining a network (DESIGN §8b). The custodian exports a descriptor — chain id, RPC URL,
 * registry, its deployment block, the custodian, the shared content store if any, nothing secret —
 * and a new home joins with it: a member profile with keys of its own, on that chain, whose age
 * recipient reaches the key directory through a signed registration the custodian relays (so the
 * member needs no funds), or, on a development chain only, by funding itself from anvil's
 * well-known accounts and publishing directly.
 */

export const NETWORK_FORMAT = 'medctl.network.v1'
export const REGISTRATION_FORMAT = 'medctl.registration.v1'
/** How long a signed registration stays valid (the custodian relays it within this time). */
export const REGISTRATION_VALIDITY_S = 7 * 24 * 3600
/** What `init --join --dev-fund` gives a member on a development chain. */
export const DEV_FUND_WEI = 10n * 10n ** 18n
const DEFAULT_JOIN_PROFILE = 'participant'
/** anvil's (and Hardhat's) public development mnemonic; account #2 is ours, #1 funds `init`. */
const DEV_MNEMONIC = 'test test test test test test test test test test test junk'
const DEV_FUND_PATH = "m/44'/60'/0'/0/2"

export interface NetworkStore {
  type: 'kubo'
  url: string
}

/** What a custodian gives every member. Public: addresses, a URL, numbers. */
export interface NetworkDescriptor {
  format: typeof NETWORK_FORMAT
  name?: string
  chainId: number
  rpcUrl: string
  registry: string
  /** Block the registry was deployed in: event scans start here. */
  deployedBlock: number
  /** The registry's `custodian()`: signs audit heads and export manifests, relays registrations. */
  custodian: string
  /** The shared content store (a Kubo RPC URL), or null: objects then travel as CAR files. */
  store: NetworkStore | null
  createdAt: string
}

// ---------------------------------------------------------------------------------------------
// Reading and checking a descriptor

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function badNetworkFile(file: string, why: string): MedctlError {
  return new MedctlError('E_BAD_NETWORK_FILE', `${file} is not a medctl network descriptor: ${why}.`, {
    exitCode: ExitCode.USAGE,
    suggestions: ['Ask the custodian for the file `medctl network export --out network.json` writes.'],
  })
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

function readJsonFile(file: string, bad: (why: string) => MedctlError): unknown {
  let raw: string
  try {
    raw = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new MedctlError('E_FILE_NOT_FOUND', `${file} does not exist.`, {exitCode: ExitCode.USAGE})
    if (code === 'EISDIR') throw bad('it is a directory')
    throw bad('it cannot be read')
  }
  if (raw.length > 64 * 1024) throw bad('it is larger than 64 KiB')
  try {
    return JSON.parse(raw) as unknown
  } catch {
    throw bad('it is not JSON')
  }
}

/** Parses and shape-checks a descriptor (E_BAD_NETWORK_FILE, exit 2). The chain is checked by checkNetwork. */
export function parseNetworkDescriptor(data: unknown, file = 'the descriptor'): NetworkDescriptor {
  const bad = (why: string) => badNetworkFile(file, why)
  if (!isObject(data)) throw bad('it is not a JSON object')
  if (data.format !== NETWORK_FORMAT) throw bad(`its format is ${quoteInput(data.format)}, not "${NETWORK_FORMAT}"`)
  if (!Number.isSafeInteger(data.chainId) || (data.chainId as number) <= 0) throw bad('chainId is not a positive integer')
  if (!isHttpUrl(data.rpcUrl)) throw bad('rpcUrl is not an http(s) URL')
  if (typeof data.registry !== 'string' || !isAddress(data.registry) || !data.registry.startsWith('0x'))
    throw bad('registry is not an address')
  if (typeof data.custodian !== 'string' || !isAddress(data.custodian) || !data.custodian.startsWith('0x'))
    throw bad('custodian is not an address')
  if (!Number.isSafeInteger(data.deployedBlock) || (data.deployedBlock as number) < 0) throw bad('deployedBlock is not a block number')
  if (data.name !== undefined && (typeof data.name !== 'string' || data.name.length > 80)) throw bad('name is not a short string')
  let store: NetworkStore | null = null
  if (data.store !== undefined && data.store !== null) {
    if (!isObject(data.store) || data.store.type !== 'kubo' || !isHttpUrl(data.store.url))
      throw bad('store is neither null nor {"type": "kubo", "url": URL}')
    store = {type: 'kubo', url: data.store.url}
  }
  return {
    format: NETWORK_FORMAT,
    ...(typeof data.name === 'string' ? {name: data.name} : {}),
    chainId: data.chainId as number,
    rpcUrl: data.rpcUrl,
    registry: getAddress(data.registry),
    deployedBlock: data.deployedBlock as number,
    custodian: getAddress(data.custodian),
    store,
    createdAt: typeof data.createdAt === 'string' ? data.createdAt : '',
  }
}

export function readNetworkDescriptor(file: string): NetworkDescriptor {
  return parseNetworkDescriptor(
    readJsonFile(file, (why) => badNetworkFile(file, why)),
    file,
  )
}

/** What `checkNetwork` compared, for the output ("checked against"). */
export interface NetworkCheck {
  rpcUrl: string
  chainId: number
  registry: string
  custodian: string
  deployedBlock: number
  /** The chain's head when checked. */
  head: number
}

export interface CheckNetworkOptions {
  timeoutMs?: number
  /** A custodian address the member got out of band (a phone call, a letter): the descriptor must name it. */
  expectCustodian?: string
}

function mismatch(field: string, message: string, details: Record<string, unknown> = {}): MedctlError {
  return new MedctlError('E_NETWORK_MISMATCH', message, {
    exitCode: ExitCode.VERIFY_FAILED,
    details: {field, ...details},
    suggestions: [
      'Do not join with this descriptor: ask the custodian for a fresh `medctl network export`, and compare its custodian address with one you got from them another way (--expect-custodian).',
    ],
  })
}

function networkProvider(rpcUrl: string, timeoutMs: number): JsonRpcProvider {
  const request = new FetchRequest(rpcUrl)
  request.timeout = timeoutMs
  return new JsonRpcProvider(request, undefined, {staticNetwork: true, cacheTimeout: -1})
}

/**
 * Trusts a descriptor only as far as the chain it names agrees with it: the chain id, code at
 * the registry, the registry's `custodian()` and `deployedBlock()`. E_NETWORK_MISMATCH (exit 4)
 * names the first field that differs; an unreachable RPC is E_RPC_UNAVAILABLE.
 */
export async function checkNetwork(descriptor: NetworkDescriptor, options: CheckNetworkOptions = {}): Promise<NetworkCheck> {
  if (options.expectCustodian !== undefined) {
    if (!isAddress(options.expectCustodian)) throw usageError('E_BAD_ADDRESS', '--expect-custodian is not an address.')
    if (getAddress(options.expectCustodian) !== descriptor.custodian) {
      throw mismatch(
        'custodian',
        `The descriptor names custodian ${descriptor.custodian}, not ${getAddress(options.expectCustodian)} as expected.`,
        {expected: getAddress(options.expectCustodian), actual: descriptor.custodian},
      )
    }
  }
  const provider = networkProvider(descriptor.rpcUrl, options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS)
  try {
    const chainId = Number(await chainRead(() => provider.send('eth_chainId', []) as Promise<string>))
    if (chainId !== descriptor.chainId)
      throw mismatch(
        'chainId',
        `The chain at ${descriptor.rpcUrl} has chain id ${chainId}, not ${descriptor.chainId} as the descriptor says.`,
        {expected: descriptor.chainId, actual: chainId},
      )
    const code = await chainRead(() => provider.getCode(descriptor.registry))
    if (code === '0x')
      throw mismatch('registry', `There is no contract at ${descriptor.registry} on chain ${chainId}.`, {registry: descriptor.registry})
    const registry = registryContract(descriptor.registry, provider)
    let custodian: string
    let deployedBlock: number
    try {
      custodian = getAddress(await registry.custodian())
      deployedBlock = Number(await registry.deployedBlock())
    } catch (error) {
      if (isTransientRpc(error)) throw decodeChainError(registry, error)
      throw mismatch('registry', `The contract at ${descriptor.registry} is not a ConsentRegistry (it has no custodian()).`, {
        registry: descriptor.registry,
      })
    }
    if (custodian !== descriptor.custodian)
      throw mismatch('custodian', `The registry's custodian is ${custodian}, not ${descriptor.custodian} as the descriptor says.`, {
        expected: descriptor.custodian,
        actual: custodian,
      })
    if (deployedBlock !== descriptor.deployedBlock)
      throw mismatch(
        'deployedBlock',
        `The registry was deployed in block ${deployedBlock}, not ${descriptor.deployedBlock} as the descriptor says.`,
        {expected: descriptor.deployedBlock, actual: deployedBlock},
      )
    const head = await chainRead(() => provider.getBlockNumber())
    return {rpcUrl: descriptor.rpcUrl, chainId, registry: descriptor.registry, custodian, deployedBlock, head}
  } finally {
    provider.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// network export (custodian home)

export interface ExportNetworkOptions {
  name?: string
  /** The RPC URL members should use, when it is not the one this profile uses (a public endpoint). */
  rpcUrl?: string
  /** Where to write it; the descriptor is returned either way. */
  out?: string
}

export interface ExportNetworkResult {
  descriptor: NetworkDescriptor
  file: string | null
  /** Things the person handing the file out should know (e.g. a loopback RPC URL). */
  notes: string[]
}

/** Checks that an output path's directory exists (E_BAD_OUT, exit 2) and returns it resolved. */
function outputPath(file: string, flag: string): string {
  const path = resolve(file)
  const dir = dirname(path)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError('E_BAD_OUT', `${flag}: the directory ${dir} does not exist.`)
  if (existsSync(path) && statSync(path).isDirectory()) throw usageError('E_BAD_OUT', `${flag}: ${path} is a directory.`)
  return path
}

/** The descriptor of the session's network, read from its chain (never from the profile alone). */
export async function exportNetwork(session: Session, options: ExportNetworkOptions = {}): Promise<ExportNetworkResult> {
  if (options.name !== undefined && (options.name.length === 0 || options.name.length > 80))
    throw usageError('E_BAD_NAME', '--name is 1 to 80 characters.')
  if (options.rpcUrl !== undefined && !isHttpUrl(options.rpcUrl)) throw usageError('E_BAD_URL', '--rpc-url must be an http(s) URL.')
  const out = options.out === undefined ? undefined : outputPath(options.out, '--out')
  const provider = await session.chainProvider()
  const registryAddress = getAddress(session.registry())
  const chainId = Number(await chainRead(() => provider.send('eth_chainId', []) as Promise<string>))
  if (chainId !== session.profile.chain.chainId) {
    throw mismatch('chainId', `The profile says chain ${session.profile.chain.chainId} but its RPC answers with chain id ${chainId}.`, {
      expected: session.profile.chain.chainId,
      actual: chainId,
    })
  }
  if ((await chainRead(() => provider.getCode(registryAddress))) === '0x') {
    throw new MedctlError('E_NO_REGISTRY', `No ConsentRegistry at ${registryAddress} on this chain.`, {
      exitCode: ExitCode.USAGE,
      suggestions: ['Run `medctl init` (embedded chain) or `medctl contract deploy`.'],
    })
  }
  const registry = registryContract(registryAddress, provider)
  const custodian = getAddress(await chainRead(() => registry.custodian(), registry))
  const deployedBlock = Number(await chainRead(() => registry.deployedBlock(), registry))
  const rpcUrl = options.rpcUrl ?? (await session.rpcUrl())
  const {profile} = session
  const kubo = profile.store.type === 'kubo' ? profile.store.url : profile.kuboUrl
  const descriptor: NetworkDescriptor = {
    format: NETWORK_FORMAT,
    ...(options.name ? {name: options.name} : {}),
    chainId,
    rpcUrl,
    registry: registryAddress,
    deployedBlock,
    custodian,
    store: kubo ? {type: 'kubo', url: kubo} : null,
    createdAt: new Date().toISOString(),
  }
  const notes: string[] = []
  const host = new URL(rpcUrl).hostname
  if (host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]') {
    notes.push(
      `The RPC URL ${rpcUrl} is on this machine only${profile.chain.embedded ? ' (the embedded node, whose port changes when it restarts: export again after a restart)' : ''}; for members elsewhere pass --rpc-url with an address they can reach.`,
    )
  }
  if (profile.role !== 'custodian')
    notes.push(
      `Profile "${profile.name}" is not the custodian: the descriptor names the registry's custodian ${custodian}, who admits new members.`,
    )
  if (out) writeFileAtomic(out, `${JSON.stringify(descriptor, null, 2)}\n`, {mode: 0o644})
  return {descriptor, file: out ?? null, notes}
}

// ---------------------------------------------------------------------------------------------
// Registrations (member -> custodian)

/** A signed key-directory registration as a file: what the member sends, what the custodian relays. */
export interface RegistrationFile extends RecipientRegistration {
  format: typeof REGISTRATION_FORMAT
  chainId: number
  registry: string
}

function badRegistration(file: string, why: string, exitCode: 2 | 4 = ExitCode.USAGE): MedctlError {
  return new MedctlError('E_BAD_REGISTRATION', `${file} is not a valid registration: ${why}.`, {
    exitCode,
    suggestions: ['Ask the member for the file `medctl init --join` wrote (--registration-out).'],
  })
}

export function parseRegistration(data: unknown, file = 'the registration'): RegistrationFile {
  const bad = (why: string) => badRegistration(file, why)
  if (!isObject(data)) throw bad('it is not a JSON object')
  if (data.format !== REGISTRATION_FORMAT) throw bad(`its format is ${quoteInput(data.format)}, not "${REGISTRATION_FORMAT}"`)
  if (!Number.isSafeInteger(data.chainId) || (data.chainId as number) <= 0) throw bad('chainId is not a positive integer')
  for (const key of ['registry', 'account'] as const) {
    const value = data[key]
    if (typeof value !== 'string' || !isAddress(value) || !value.startsWith('0x')) throw bad(`${key} is not an address`)
  }
  if (typeof data.recipient !== 'string') throw bad('recipient is not an age recipient')
  try {
    recipientToBytes32(data.recipient)
  } catch {
    throw bad('recipient is not an age X25519 recipient (age1…)')
  }
  if (typeof data.nonce !== 'string' || !/^\d{1,78}$/.test(data.nonce)) throw bad('nonce is not a decimal integer')
  if (!Number.isSafeInteger(data.deadline) || (data.deadline as number) <= 0 || (data.deadline as number) >= 2 ** 32)
    throw bad('deadline is not a uint32 timestamp')
  if (typeof data.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(data.signature))
    throw bad('signature is not a 65-byte hex signature')
  return {
    format: REGISTRATION_FORMAT,
    chainId: data.chainId as number,
    registry: getAddress(data.registry as string),
    account: getAddress(data.account as string),
    recipient: data.recipient,
    nonce: data.nonce,
    deadline: data.deadline as number,
    signature: data.signature,
  }
}

export function readRegistration(file: string): RegistrationFile {
  return parseRegistration(
    readJsonFile(file, (why) => badRegistration(file, why)),
    file,
  )
}

/** The account that signed the registration (EIP-712, the registry's domain), or undefined. */
export function registrationSigner(reg: RegistrationFile): string | undefined {
  try {
    const value = {account: reg.account, recipient: recipientToBytes32(reg.recipient), nonce: BigInt(reg.nonce), deadline: reg.deadline}
    return getAddress(verifyTypedData(grantDomain(reg.chainId, reg.registry), RECIPIENT_TYPES, value, reg.signature))
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// init --join (a new home)

export interface JoinOptions {
  /** The descriptor file. */
  file: string
  /** Profile (and identity) name; default "participant". */
  name?: string
  /** Where the signed registration goes; default <home>/registration-<name>.json. */
  registrationOut?: string
  /** Development chain only (chain id 31337): fund from anvil's dev accounts and publish directly. */
  devFund?: boolean
  expectCustodian?: string
  /** The member's own Kubo node, instead of the descriptor's shared one. */
  kuboUrl?: string
  rpcTimeoutMs?: number
  onProgress?: (step: string) => void
}

export interface NetworkSummary {
  name: string | null
  chainId: number
  registry: string
  custodian: string
  rpcUrl: string
}

export interface JoinResult {
  profile: string
  role: Profile['role']
  address: string
  recipient: string
  network: NetworkSummary
  /** What the descriptor was checked against on chain. */
  checked: NetworkCheck
  store: Profile['store']
  /** The member's balance on the network, in wei (decimal string). */
  balanceWei: string
  devFunded: boolean
  registration:
    | {status: 'registered'; via: 'already' | 'dev-fund'; txHash?: string}
    | {status: 'pending'; file: string; nonce: string; deadline: number}
  alreadyJoined: boolean
  /** Whether the joined profile became the home's current profile. */
  current: boolean
}

function sameNetwork(profile: Profile, descriptor: NetworkDescriptor): boolean {
  return profile.network?.registry === descriptor.registry && profile.network.chainId === descriptor.chainId
}

/**
 * `medctl init --join FILE`: a member profile on the descriptor's network, with its own identity
 * (no pseudonym key) and no embedded node. Idempotent: run again, it reports the profile and
 * writes a fresh registration if the key is not yet in the directory.
 */
export async function joinNetwork(paths: MedctlPaths, passphrase: () => Promise<string>, options: JoinOptions): Promise<JoinResult> {
  const name = options.name ?? DEFAULT_JOIN_PROFILE
  validateProfileName(name)
  if (options.kuboUrl !== undefined && !isHttpUrl(options.kuboUrl)) throw usageError('E_BAD_URL', '--kubo-url must be an http(s) URL.')
  const descriptor = readNetworkDescriptor(options.file)
  if (options.devFund && descriptor.chainId !== LOCAL_CHAIN_ID) {
    throw usageError(
      'E_DEV_FUND_REFUSED',
      `--dev-fund is for the development chain (chain id ${LOCAL_CHAIN_ID}) only; this network is chain ${descriptor.chainId}.`,
      ['Join without --dev-fund: send the registration file to the custodian, who runs `medctl network admit FILE`.'],
    )
  }
  const regOut =
    options.registrationOut === undefined
      ? join(paths.home, `registration-${name}.json`)
      : outputPath(options.registrationOut, '--registration-out')
  options.onProgress?.('checking the network')
  const timeoutMs = options.rpcTimeoutMs ?? DEFAULT_RPC_TIMEOUT_MS
  const checked = await checkNetwork(descriptor, {
    timeoutMs,
    ...(options.expectCustodian ? {expectCustodian: options.expectCustodian} : {}),
  })

  const profiles = new ProfileStore(paths)
  const keystore = new Keystore(paths)
  const existing = profiles.find(name)
  if (existing && !sameNetwork(existing, descriptor)) {
    throw usageError('E_PROFILE_EXISTS', `A profile named "${name}" already exists${existing.network ? ' on another network' : ''}.`, [
      'Join under another name with --name NAME.',
    ])
  }
  if (!existing && keystore.exists(name)) {
    throw usageError('E_IDENTITY_EXISTS', `An identity named "${name}" already exists.`, ['Join under another name with --name NAME.'])
  }
  const secret = await passphrase()
  options.onProgress?.('generating the identity')
  const identity = existing ? keystore.info(existing.identity) : await keystore.generate(name, secret, {pseudonymKey: false})
  const network: NetworkMembership = {
    ...(descriptor.name ? {name: descriptor.name} : {}),
    chainId: descriptor.chainId,
    registry: descriptor.registry,
    custodian: descriptor.custodian,
    deployedBlock: descriptor.deployedBlock,
    joinedAt: existing?.network?.joinedAt ?? new Date().toISOString(),
  }
  const store: Profile['store'] = options.kuboUrl
    ? {type: 'kubo', url: options.kuboUrl}
    : descriptor.store
      ? {type: 'kubo', url: descriptor.store.url}
      : {type: 'embedded'}
  const profile: Profile = existing ?? {
    name,
    identity: name,
    role: 'member',
    chain: {embedded: false, rpcUrl: descriptor.rpcUrl, chainId: descriptor.chainId, registry: descriptor.registry},
    store,
    network,
    createdAt: new Date().toISOString(),
  }
  if (!existing) profiles.add(profile)
  const current = profiles.currentName() === name

  const provider = networkProvider(descriptor.rpcUrl, timeoutMs)
  try {
    const registry = registryContract(descriptor.registry, provider)
    let devFunded = false
    let registration: JoinResult['registration']
    const published = await chainRead(() => lookupRecipient(registry, identity.address), registry)
    if (published === identity.recipient) registration = {status: 'registered', via: 'already'}
    else if (options.devFund) {
      options.onProgress?.('funding from a development account')
      await fundFromDevChain(provider, identity.address)
      devFunded = true
      const unlocked = await keystore.unlock(identity.name, secret)
      options.onProgress?.('publishing the age recipient')
      const sent = await publishRecipient(registryContract(descriptor.registry, unlocked.wallet.connect(provider)), identity.recipient)
      registration = {status: 'registered', via: 'dev-fund', txHash: sent.txHash}
    } else {
      options.onProgress?.('signing the registration')
      const unlocked = await keystore.unlock(identity.name, secret)
      const reg = await signRegistration(provider, unlocked.wallet, descriptor, identity.recipient)
      writeFileAtomic(regOut, `${JSON.stringify(reg, null, 2)}\n`, {mode: 0o644})
      registration = {status: 'pending', file: regOut, nonce: reg.nonce, deadline: reg.deadline}
    }
    const balance = await chainRead(() => provider.getBalance(identity.address))
    return {
      profile: profile.name,
      role: profile.role,
      address: identity.address,
      recipient: identity.recipient,
      network: {
        name: descriptor.name ?? null,
        chainId: descriptor.chainId,
        registry: descriptor.registry,
        custodian: descriptor.custodian,
        rpcUrl: descriptor.rpcUrl,
      },
      checked,
      store: profile.store,
      balanceWei: balance.toString(),
      devFunded,
      registration,
      alreadyJoined: Boolean(existing),
      current,
    }
  } finally {
    provider.destroy()
  }
}

async function signRegistration(
  provider: JsonRpcProvider,
  wallet: Wallet,
  descriptor: NetworkDescriptor,
  recipient: string,
): Promise<RegistrationFile> {
  const registry = registryContract(descriptor.registry, provider)
  const nonce = await recipientNonce(registry, wallet.address)
  const block = await chainRead(() => provider.getBlock('latest'))
  const deadline = (block?.timestamp ?? Math.floor(Date.now() / 1000)) + REGISTRATION_VALIDITY_S
  const signed = await signRecipientRegistration(wallet, {
    chainId: descriptor.chainId,
    registry: descriptor.registry,
    recipient,
    nonce,
    deadline,
  })
  return {format: REGISTRATION_FORMAT, chainId: descriptor.chainId, registry: descriptor.registry, ...signed}
}

/**
 * A transfer from anvil's development account #2 (a public key everyone knows: development
 * chains only — the caller has checked the chain id). Not persisted by this home: the embedded
 * node belongs to the custodian's home, which dumps its state on its next write or stop.
 */
async function fundFromDevChain(provider: JsonRpcProvider, to: string): Promise<void> {
  const funder = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, DEV_FUND_PATH).connect(provider)
  const balance = await chainRead(() => provider.getBalance(funder.address))
  if (balance < DEV_FUND_WEI * 2n) {
    throw new MedctlError(
      'E_DEV_FUND_UNAVAILABLE',
      'This chain has no funded development account to pay from (it is not an anvil/Hardhat development chain).',
      {
        exitCode: ExitCode.USAGE,
        suggestions: ['Join without --dev-fund: send the registration file to the custodian, who runs `medctl network admit FILE`.'],
      },
    )
  }
  const nonce = await chainRead(() => provider.getTransactionCount(funder.address, 'pending'))
  const tx = await chainRead(() => funder.sendTransaction({to, value: DEV_FUND_WEI, nonce}))
  await chainRead(() => tx.wait())
}

// ---------------------------------------------------------------------------------------------
// network admit (custodian home)

export interface AdmitResult {
  account: string
  recipient: string
  status: 'admitted' | 'already-registered'
  /** Checked against the session's own profile, never the file. */
  registry: string
  chainId: number
  txHash?: string
  gasUsed?: string
}

/**
 * Relays a member's signed registration into the key directory (the custodian pays the gas) and
 * audits it. The registry and chain come from this profile: a registration for another network
 * is E_NETWORK_MISMATCH (exit 4), a bad signature E_BAD_REGISTRATION (exit 4). Idempotent: the
 * same key already registered for the account is a no-op.
 */
export async function admitRegistration(session: Session, file: string): Promise<AdmitResult> {
  const reg = readRegistration(file)
  const registry = getAddress(session.registry())
  const {chainId} = session.profile.chain
  if (reg.chainId !== chainId || reg.registry !== registry) {
    throw mismatch(
      'registry',
      `The registration is for registry ${reg.registry} on chain ${reg.chainId}; this profile's network is ${registry} on chain ${chainId}.`,
      {
        expected: {chainId, registry},
        actual: {chainId: reg.chainId, registry: reg.registry},
      },
    )
  }
  if (registrationSigner(reg) !== reg.account) throw badRegistration(file, `its signature is not ${reg.account}'s`, ExitCode.VERIFY_FAILED)
  const ctx = await consentContext(session, {write: true})
  const base = {account: reg.account, recipient: reg.recipient, registry, chainId}
  const current = await chainRead(() => lookupRecipient(ctx.registry, reg.account), ctx.registry)
  if (current === reg.recipient) return {...base, status: 'already-registered'}
  const nonce = await recipientNonce(ctx.registry, reg.account)
  if (nonce.toString() !== reg.nonce) {
    throw new MedctlError(
      'E_REGISTRATION_STALE',
      `This registration (nonce ${reg.nonce}) was already used or replaced: the account's next registration nonce is ${nonce}.`,
      {
        exitCode: ExitCode.USAGE,
        suggestions: ['Ask the member for a new registration: re-running `medctl init --join` in their home writes one.'],
      },
    )
  }
  if (reg.deadline < ctx.now) {
    throw new MedctlError('E_SIGNATURE_EXPIRED', `This registration expired at ${new Date(reg.deadline * 1000).toISOString()}.`, {
      exitCode: ExitCode.USAGE,
      suggestions: ['Ask the member for a new registration: re-running `medctl init --join` in their home writes one.'],
    })
  }
  const detail = {event: 'network-admit', account: reg.account, recipient: reg.recipient, nonce: reg.nonce}
  let sent: {txHash: string; gasUsed: string}
  try {
    sent = await relayRecipientRegistration(ctx.registry, reg, {...ctx.send, intent: `network-admit:${reg.account}:${reg.nonce}`})
  } catch (error) {
    await auditConsent(session, {type: 'controller', outcome: 'failure', reason: (error as {code?: string}).code ?? 'E_CHAIN', detail})
    throw error
  }
  await session.chainWritten()
  await auditConsent(session, {type: 'controller', outcome: 'success', detail: {...detail, txHash: sent.txHash}})
  return {...base, status: 'admitted', txHash: sent.txHash, gasUsed: sent.gasUsed}
}
