import {FetchRequest, JsonRpcProvider, type Wallet} from 'ethers'
import {MedctlError} from '../core/errors.js'
import {ensureNode, persistNodeState} from '../chain/local-node.js'
import {Keystore, type IdentityInfo, type UnlockedIdentity} from '../config/keystore.js'
import type {MedctlPaths} from '../config/paths.js'
import {ProfileStore, type Profile} from '../config/profiles.js'
import {identityFromAgent} from './agent.js'

export type PassphraseProvider = () => Promise<string>

export interface SessionHooks {
  /** Told why an unlocked session's agent that is there was not used (the passphrase is then asked). */
  onWarning?: (message: string) => void
}

export interface ProfileSummary {
  name: string
  current: boolean
  role: Profile['role']
  address: string | null
  recipient: string | null
  chain: {rpcUrl: string | null; chainId: number; registry: string | null; embedded: boolean}
  store: {type: 'embedded'; path: string} | {type: 'kubo'; url: string}
  kuboUrl: string | null
  /** The network a joined profile belongs to (`init --join`); null for a profile that did not join one. */
  network: {name: string | null; chainId: number; registry: string; custodian: string; deployedBlock: number; joinedAt: string} | null
}

/**
 * What a command works with: one profile, its identity (unlocked on first need), and its chain
 * (the embedded node is started on demand). Never prints, never prompts: the identity comes from
 * the profile's unlocked-session agent when one is running (`medctl unlock`, see agent.ts), else
 * from the passphrase the command's provider gives.
 */
export class Session {
  readonly profiles: ProfileStore
  readonly keystore: Keystore
  readonly profile: Profile
  private provider?: JsonRpcProvider
  /** How long one JSON-RPC request may take (flag --rpc-timeout, env MEDCTL_RPC_TIMEOUT, default 5 s). */
  rpcTimeoutMs = rpcTimeoutFromEnv()
  private resolvedRpcUrl?: string
  private unlocked?: Promise<UnlockedIdentity>
  /** Where the identity came from, once unlocked: the session agent or the passphrase. */
  identitySource?: 'agent' | 'passphrase'

  constructor(
    readonly paths: MedctlPaths,
    profileName: string | undefined,
    private readonly passphrase: PassphraseProvider,
    private readonly hooks: SessionHooks = {},
  ) {
    this.profiles = new ProfileStore(paths)
    this.keystore = new Keystore(paths)
    this.profile = this.profiles.resolve(profileName)
  }

  identity(): IdentityInfo {
    return this.keystore.info(this.profile.identity)
  }

  async unlock(): Promise<UnlockedIdentity> {
    this.unlocked ??= this.unlockOnce()
    try {
      return await this.unlocked
    } catch (error) {
      this.unlocked = undefined
      throw error
    }
  }

  private async unlockOnce(): Promise<UnlockedIdentity> {
    const info = this.keystore.info(this.profile.identity)
    const fromAgent = await identityFromAgent(this.paths, this.profile.name, info, this.hooks.onWarning)
    if (fromAgent) {
      this.identitySource = 'agent'
      return fromAgent
    }
    const identity = await this.keystore.unlock(this.profile.identity, await this.passphrase())
    this.identitySource = 'passphrase'
    return identity
  }

  async pseudonymKey(): Promise<Buffer> {
    const identity = await this.unlock()
    if (!identity.pseudonymKey) {
      throw new MedctlError(
        'E_NOT_CUSTODIAN',
        `Profile "${this.profile.name}" has no pseudonym key: only a custodian profile can name patients.`,
        {
          exitCode: 2,
          suggestions: ['Use the custodian profile (--profile local), or create one with `medctl profile create NAME --custodian`.'],
        },
      )
    }
    return identity.pseudonymKey
  }

  async rpcUrl(): Promise<string> {
    if (this.resolvedRpcUrl) return this.resolvedRpcUrl
    const {chain} = this.profile
    if (chain.embedded) this.resolvedRpcUrl = (await ensureNode(this.paths)).rpcUrl
    else if (chain.rpcUrl) this.resolvedRpcUrl = chain.rpcUrl
    else
      throw new MedctlError('E_NO_CHAIN', `Profile "${this.profile.name}" names no chain.`, {
        exitCode: 2,
        suggestions: ['medctl profile set chain.rpcUrl URL'],
      })
    return this.resolvedRpcUrl
  }

  async chainProvider(): Promise<JsonRpcProvider> {
    if (!this.provider) {
      const url = await this.rpcUrl()
      // Every request gives up after rpcTimeoutMs (E_RPC_UNAVAILABLE, never a hang); cacheTimeout
      // -1: never serve a stale nonce or block from ethers' short request cache.
      const request = new FetchRequest(url)
      request.timeout = this.rpcTimeoutMs
      this.provider = new JsonRpcProvider(request, this.profile.chain.chainId, {staticNetwork: true, cacheTimeout: -1})
    }
    return this.provider
  }

  async signer(): Promise<Wallet> {
    const identity = await this.unlock()
    return identity.wallet.connect(await this.chainProvider())
  }

  /** After confirmed writes: make the embedded node's state durable (see local-node.ts). */
  async chainWritten(): Promise<void> {
    if (this.profile.chain.embedded && this.resolvedRpcUrl) await persistNodeState(this.paths, this.resolvedRpcUrl)
  }

  registry(): string {
    const registry = this.profile.chain.registry
    if (!registry) {
      throw new MedctlError('E_NO_REGISTRY', `Profile "${this.profile.name}" has no ConsentRegistry address.`, {
        exitCode: 2,
        suggestions: ['Run `medctl contract deploy`, or `medctl profile set chain.registry ADDRESS`.'],
      })
    }
    return registry
  }

  close(): void {
    this.provider?.destroy()
    this.provider = undefined
  }
}

/** Public view of a profile: never a secret. */
export async function summarizeProfile(
  paths: MedctlPaths,
  profiles: ProfileStore,
  keystore: Keystore,
  profile: Profile,
  rpcUrl: string | null,
): Promise<ProfileSummary> {
  const identity = keystore.exists(profile.identity) ? keystore.info(profile.identity) : undefined
  return {
    name: profile.name,
    current: profiles.currentName() === profile.name,
    role: profile.role,
    address: identity?.address ?? null,
    recipient: identity?.recipient ?? null,
    chain: {rpcUrl, chainId: profile.chain.chainId, registry: profile.chain.registry ?? null, embedded: profile.chain.embedded},
    store: profile.store.type === 'kubo' ? {type: 'kubo', url: profile.store.url} : {type: 'embedded', path: paths.database},
    kuboUrl: profile.kuboUrl ?? null,
    network: profile.network
      ? {
          name: profile.network.name ?? null,
          chainId: profile.network.chainId,
          registry: profile.network.registry,
          custodian: profile.network.custodian,
          deployedBlock: profile.network.deployedBlock,
          joinedAt: profile.network.joinedAt,
        }
      : null,
  }
}

export const DEFAULT_RPC_TIMEOUT_MS = 5000

function rpcTimeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.MEDCTL_RPC_TIMEOUT)
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_RPC_TIMEOUT_MS
}
