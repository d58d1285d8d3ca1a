/**
 * What a verifier trusts: its own chain, its own registry, its own custodian — from its profile or
 * from flags, never from the log, head or proof it is verifying. Everything here is read at one
 * pinned block so the report can say exactly what was checked against.
 */
import {FetchRequest, JsonRpcProvider, getAddress, type Provider} from 'ethers'
import {ExitCode, MedctlError, usageError} from '../core/errors.js'
import {isTransientRpc} from '../chain/client.js'
import type {Session} from '../session/session.js'
import {custodianRoleAt, custodianViews, listAnchors, namedCustodianAt, noRegistryContract, registryContract} from '../chain/registry.js'
import type {ChainAnchor} from './verify.js'

/** Read-only views every ConsentRegistry has (AccessControl), plus `custodian()` where deployed. */

export interface TrustFlags {
  rpcUrl?: string
  registry?: string
  custodian?: string
  offline?: boolean
}

/** Where the verifier's roots came from, for the report. */
export type TrustSource = 'flags' | 'profile' | 'flags+profile' | 'none'

export type VerifierTrust =
  | {mode: 'chain'; source: TrustSource; provider: Provider; registry: string; custodian?: string; close(): void}
  | {
      mode: 'offline'
      source: TrustSource
      registry?: string
      chainId?: number
      custodian?: string
      custodianFrom?: 'flag' | 'profile'
      close(): void
    }

/** What a verification was checked against: printed by `audit verify` and `audit check-proof`. */
export interface CheckedAgainst {
  mode: 'chain' | 'offline'
  source: TrustSource
  chainId: number | null
  registry: string | null
  block: number | null
  /** The addresses accepted as the custodian; empty when none of the signers holds the role. */
  custodian: string[] | null
  custodianFrom: 'flag' | 'profile' | 'registry custodian()' | 'registry CUSTODIAN_ROLE' | null
}

/** What an offline check was checked against: the verifier's flags or profile, no chain. */
export function offlineCheckedAgainst(trust: Extract<VerifierTrust, {mode: 'offline'}>): CheckedAgainst {
  return {
    mode: 'offline',
    source: trust.source,
    chainId: trust.chainId ?? null,
    registry: trust.registry ?? null,
    block: null,
    custodian: trust.custodian ? [trust.custodian] : null,
    custodianFrom: trust.custodianFrom ?? null,
  }
}

export interface ChainView {
  chainId: number
  registry: string
  block: number
  anchors: ChainAnchor[]
  /** The custodian the registry names, when it has a `custodian()` view. */
  named?: string
  /** Which of these addresses hold the custodian role at the pinned block. */
  custodians(candidates: Iterable<string>): Promise<string[]>
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

function address(value: string, flag: string): string {
  if (!ADDRESS.test(value)) throw usageError('E_BAD_ADDRESS', `${flag} must be a 0x-prefixed 20-byte address.`)
  return getAddress(value.toLowerCase())
}

function chainError(error: unknown, what: string): MedctlError {
  if (error instanceof MedctlError) return error
  if (isTransientRpc(error)) {
    return new MedctlError('E_RPC_UNAVAILABLE', `The chain did not answer while ${what}.`, {
      cause: error,
      suggestions: ["Check --rpc-url or the profile's chain, or verify with --offline."],
    })
  }
  return new MedctlError(
    'E_CHAIN',
    `The chain refused a read while ${what}: ${(error as {shortMessage?: string; message?: string}).shortMessage ?? (error as Error).message ?? String(error)}`,
    {cause: error},
  )
}

async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw chainError(error, what)
  }
}

/** A provider for a URL the verifier gave: a bounded timeout, the chain id asked of the node. */
async function providerFor(url: string): Promise<JsonRpcProvider> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw usageError('E_BAD_URL', '--rpc-url is not a URL.')
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol))
    throw usageError('E_BAD_URL', '--rpc-url must be an http(s) or ws(s) URL.')
  const request = new FetchRequest(url)
  request.timeout = 30_000
  const probe = new JsonRpcProvider(request, 1, {staticNetwork: true, batchMaxCount: 1})
  try {
    const chainId = Number(await read('asking the chain id', () => probe.send('eth_chainId', []) as Promise<string>))
    probe.destroy()
    const again = new FetchRequest(url)
    again.timeout = 30_000
    return new JsonRpcProvider(again, chainId, {staticNetwork: true, cacheTimeout: -1})
  } catch (error) {
    probe.destroy()
    throw error
  }
}

function tryProfile(openSession: () => Session): Session | undefined {
  try {
    return openSession()
  } catch (error) {
    if (error instanceof MedctlError && error.code === 'E_NO_PROFILE') return undefined
    throw error
  }
}

/**
 * The verifier's roots: flags first, then the verifier's own profile. With `--rpc-url` and
 * `--registry` (or offline with `--custodian`) no profile is needed at all.
 */
export async function resolveTrust(flags: TrustFlags, openSession: () => Session): Promise<VerifierTrust> {
  const registryFlag = flags.registry ? address(flags.registry, '--registry') : undefined
  const custodianFlag = flags.custodian ? address(flags.custodian, '--custodian') : undefined
  const nothing = (): void => undefined
  if (flags.offline) {
    const session = custodianFlag && registryFlag ? undefined : tryProfile(openSession)
    const profileCustodian = !custodianFlag && session?.profile.role === 'custodian' ? session.identity().address : undefined
    const registry = registryFlag ?? session?.profile.chain.registry
    const fromProfile = Boolean(session && (!registryFlag || !custodianFlag))
    return {
      mode: 'offline',
      source: fromProfile
        ? registryFlag || custodianFlag
          ? 'flags+profile'
          : 'profile'
        : registryFlag || custodianFlag
          ? 'flags'
          : 'none',
      ...(registry ? {registry: getAddress(registry.toLowerCase())} : {}),
      ...(session && !registryFlag ? {chainId: session.profile.chain.chainId} : {}),
      ...(custodianFlag
        ? {custodian: custodianFlag, custodianFrom: 'flag' as const}
        : profileCustodian
          ? {custodian: profileCustodian, custodianFrom: 'profile' as const}
          : {}),
      close: nothing,
    }
  }
  if (flags.rpcUrl && registryFlag) {
    const provider = await providerFor(flags.rpcUrl)
    return {
      mode: 'chain',
      source: 'flags',
      provider,
      registry: registryFlag,
      ...(custodianFlag ? {custodian: custodianFlag} : {}),
      close: () => provider.destroy(),
    }
  }
  let session: Session
  try {
    session = openSession()
  } catch (error) {
    if (error instanceof MedctlError && error.code === 'E_NO_PROFILE') {
      throw new MedctlError(
        'E_NO_PROFILE',
        'No profile to take the chain from: name the chain with --rpc-url and --registry (and optionally --custodian), or verify --offline with --custodian.',
        {
          exitCode: ExitCode.USAGE,
          suggestions: [
            'medctl audit verify --log DIR --rpc-url URL --registry 0xREGISTRY',
            'medctl audit check-proof proof.json --rpc-url URL --registry 0xREGISTRY',
          ],
        },
      )
    }
    throw error
  }
  const own = flags.rpcUrl ? await providerFor(flags.rpcUrl) : undefined
  const provider = own ?? (await session.chainProvider())
  const registry = registryFlag ?? getAddress(session.registry().toLowerCase())
  return {
    mode: 'chain',
    source: flags.rpcUrl || registryFlag || custodianFlag ? 'flags+profile' : 'profile',
    provider,
    registry,
    ...(custodianFlag ? {custodian: custodianFlag} : {}),
    close: () => own?.destroy(),
  }
}

/** The verifier's registry at one pinned block: its chain id, its anchors, and who its custodian is. */
export async function openChainView(provider: Provider, registry: string): Promise<ChainView> {
  // The node's own answer, not the network a provider was configured with.
  const chainId = Number(
    await read('asking the chain id', async () =>
      provider instanceof JsonRpcProvider ? BigInt(await provider.send('eth_chainId', [])) : (await provider.getNetwork()).chainId,
    ),
  )
  const block = await read('reading the block number', () => provider.getBlockNumber())
  const code = await read('reading the registry', () => provider.getCode(registry, block))
  if (code === '0x') {
    throw noRegistryContract(registry, chainId, block)
  }
  const contract = registryContract(registry, provider)
  const anchors = (await read('reading the anchors', () => listAnchors(contract, {blockTag: block}))) as ChainAnchor[]
  const roles = custodianViews(registry, provider)
  const named = await namedCustodianAt(roles, block).catch((error: unknown) => {
    throw chainError(error, "reading the registry's custodian")
  })
  let role: string | undefined
  return {
    chainId,
    registry,
    block,
    anchors,
    ...(named ? {named} : {}),
    async custodians(candidates) {
      role ??= await read('reading CUSTODIAN_ROLE', () => custodianRoleAt(roles, block))
      const out: string[] = []
      for (const candidate of new Set([...candidates].map((c) => getAddress(c.toLowerCase())))) {
        const holds = await read('checking the custodian role', () =>
          roles.hasRole.staticCall(role as string, candidate, {blockTag: block}),
        )
        if (holds) out.push(candidate)
      }
      return out
    },
  }
}

/**
 * The custodian addresses the verifier accepts: its --custodian flag; else the registry's
 * `custodian()`; else, of the addresses the evidence names (head signers, anchor writers), those
 * that hold CUSTODIAN_ROLE in the verifier's registry at the pinned block.
 */
export async function acceptedCustodians(
  view: ChainView,
  flag: string | undefined,
  candidates: Iterable<string>,
): Promise<{custodian: string[]; from: CheckedAgainst['custodianFrom']}> {
  if (flag) return {custodian: [flag], from: 'flag'}
  if (view.named) return {custodian: [view.named], from: 'registry custodian()'}
  return {custodian: await view.custodians(candidates), from: 'registry CUSTODIAN_ROLE'}
}

/** What a check against the chain was checked against: the pinned view and the custodians accepted. */
export function chainCheckedAgainst(
  source: TrustSource,
  view: ChainView,
  accepted: {custodian: string[]; from: CheckedAgainst['custodianFrom']},
): CheckedAgainst {
  return {
    mode: 'chain',
    source,
    chainId: view.chainId,
    registry: view.registry,
    block: view.block,
    custodian: accepted.custodian,
    custodianFrom: accepted.from,
  }
}
