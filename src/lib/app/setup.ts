import {MedctlError} from '../core/errors.js'
import {ensureNode, fundFromDevAccount} from '../chain/local-node.js'
import {ensureLocalRegistry, publishRecipientWith} from '../consent/setup.js'
import {Keystore, type IdentityInfo} from '../config/keystore.js'
import type {MedctlPaths} from '../config/paths.js'
import {LOCAL_CHAIN_ID, ProfileStore, validateProfileName, type Profile} from '../config/profiles.js'

export const LOCAL_PROFILE = 'local'
/** What a fresh local wallet receives from anvil's development accounts. */
export const LOCAL_FUNDING_WEI = 1000n * 10n ** 18n

export interface InitResult {
  profile: string
  address: string
  recipient: string
  rpcUrl: string
  chainId: number
  alreadyInitialised: boolean
}

export interface InitHooks {
  onProgress?: (step: string) => void
}

/** `medctl init`: the local custodian profile, its identity, the embedded node, a funded wallet. */
export async function initLocal(paths: MedctlPaths, passphrase: () => Promise<string>, hooks: InitHooks = {}): Promise<InitResult> {
  const profiles = new ProfileStore(paths)
  const keystore = new Keystore(paths)
  const existing = profiles.find(LOCAL_PROFILE)
  if (existing && keystore.exists(existing.identity)) {
    hooks.onProgress?.('starting the node')
    const node = await ensureNode(paths)
    const identity = keystore.info(existing.identity)
    let profile = existing
    if (!profile.chain.registry) {
      const unlocked = await keystore.unlock(existing.identity, await passphrase())
      profile = await ensureLocalRegistry(paths, profile, unlocked.wallet, unlocked.recipient, node.rpcUrl)
    }
    return {
      profile: profile.name,
      address: identity.address,
      recipient: identity.recipient,
      rpcUrl: node.rpcUrl,
      chainId: profile.chain.chainId,
      alreadyInitialised: true,
    }
  }
  const secret = await passphrase()
  hooks.onProgress?.('generating the identity')
  const identity = keystore.exists(LOCAL_PROFILE)
    ? keystore.info(LOCAL_PROFILE)
    : await keystore.generate(LOCAL_PROFILE, secret, {pseudonymKey: true})
  let profile: Profile = existing ?? {
    name: LOCAL_PROFILE,
    identity: LOCAL_PROFILE,
    role: 'custodian',
    chain: {embedded: true, chainId: LOCAL_CHAIN_ID},
    store: {type: 'embedded'},
    createdAt: new Date().toISOString(),
  }
  if (!existing) profiles.add(profile)
  profiles.use(LOCAL_PROFILE)
  hooks.onProgress?.('starting the node')
  const node = await ensureNode(paths)
  hooks.onProgress?.('funding the wallet')
  await fundFromDevAccount(paths, node.rpcUrl, identity.address, LOCAL_FUNDING_WEI)
  hooks.onProgress?.('deploying the consent registry')
  const unlocked = await keystore.unlock(identity.name, secret)
  profile = await ensureLocalRegistry(paths, profile, unlocked.wallet, unlocked.recipient, node.rpcUrl)
  return {
    profile: profile.name,
    address: identity.address,
    recipient: identity.recipient,
    rpcUrl: node.rpcUrl,
    chainId: profile.chain.chainId,
    alreadyInitialised: false,
  }
}

export interface CreateProfileOptions {
  name: string
  custodian?: boolean
  rpcUrl?: string
  chainId?: number
  registry?: string
  kuboUrl?: string
  /** Use an existing identity instead of generating one. */
  identity?: string
}

export interface CreateProfileResult {
  profile: Profile
  identity: IdentityInfo
  funded: boolean
}

/**
 * A new profile with an identity of its own, on the same chain and content store as the current
 * profile unless told otherwise — so a clinic, a lab and the hospital can share one home.
 */
export async function createProfile(
  paths: MedctlPaths,
  options: CreateProfileOptions,
  passphrase: () => Promise<string>,
): Promise<CreateProfileResult> {
  validateProfileName(options.name)
  const profiles = new ProfileStore(paths)
  const keystore = new Keystore(paths)
  if (profiles.find(options.name))
    throw new MedctlError('E_PROFILE_EXISTS', `A profile named "${options.name}" already exists.`, {exitCode: 2})
  const base = profiles.currentName() ? profiles.find(profiles.currentName() as string) : undefined
  const chain: Profile['chain'] = options.rpcUrl
    ? {
        embedded: false,
        rpcUrl: options.rpcUrl,
        chainId: options.chainId ?? base?.chain.chainId ?? LOCAL_CHAIN_ID,
        registry: options.registry,
      }
    : {
        ...(base?.chain ?? {embedded: true, chainId: LOCAL_CHAIN_ID}),
        ...(options.chainId ? {chainId: options.chainId} : {}),
        ...(options.registry ? {registry: options.registry} : {}),
      }
  const store: Profile['store'] = options.kuboUrl ? {type: 'kubo', url: options.kuboUrl} : (base?.store ?? {type: 'embedded'})
  const identityName = options.identity ?? options.name
  let identity: IdentityInfo
  if (options.identity) identity = keystore.info(options.identity)
  else {
    if (keystore.exists(identityName))
      throw new MedctlError('E_IDENTITY_EXISTS', `An identity named "${identityName}" already exists.`, {
        exitCode: 2,
        suggestions: [`Reuse it with --identity ${identityName}.`],
      })
    identity = await keystore.generate(identityName, await passphrase(), {pseudonymKey: Boolean(options.custodian)})
  }
  const profile: Profile = {
    name: options.name,
    identity: identityName,
    role: options.custodian ? 'custodian' : 'member',
    chain,
    store,
    ...(base?.kuboUrl && !options.kuboUrl ? {kuboUrl: base.kuboUrl} : {}),
    createdAt: new Date().toISOString(),
  }
  profiles.add(profile)
  let funded = false
  if (chain.embedded) {
    const node = await ensureNode(paths)
    await fundFromDevAccount(paths, node.rpcUrl, identity.address, LOCAL_FUNDING_WEI)
    funded = true
    if (chain.registry) {
      // Publish the new identity's age recipient so custodians can share records with it.
      const unlocked = await keystore.unlock(identityName, await passphrase())
      await publishRecipientWith(paths, node.rpcUrl, chain.chainId, chain.registry, unlocked.wallet, unlocked.recipient)
    }
  }
  return {profile, identity, funded}
}
