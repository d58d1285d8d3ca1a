import {JsonRpcProvider, type Wallet} from 'ethers'
import {persistNodeState} from '../chain/local-node.js'
import type {MedctlPaths} from '../config/paths.js'
import {ProfileStore, type Profile} from '../config/profiles.js'
import {deployRegistry, lookupRecipient, publishRecipient, registryContract} from '../chain/registry.js'

function provider(rpcUrl: string, chainId: number): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, chainId, {staticNetwork: true, cacheTimeout: -1})
}

/**
 * The embedded chain's ConsentRegistry: deployed once by the local custodian (admin, custodian
 * and emergency roles), its address saved in the profile, the custodian's age recipient published
 * in its key directory. Idempotent.
 */
export async function ensureLocalRegistry(
  paths: MedctlPaths,
  profile: Profile,
  wallet: Wallet,
  recipient: string,
  rpcUrl: string,
): Promise<Profile> {
  const chain = provider(rpcUrl, profile.chain.chainId)
  try {
    const signer = wallet.connect(chain)
    let registry = profile.chain.registry
    if (!registry || (await chain.getCode(registry)) === '0x') {
      registry = (await deployRegistry(signer)).address
      const profiles = new ProfileStore(paths)
      const updated = {...profiles.get(profile.name), chain: {...profile.chain, registry}}
      profiles.save(updated)
      profile = updated
    }
    await publishIfMissing(registry, signer, recipient)
    await persistNodeState(paths, rpcUrl)
    return profile
  } finally {
    chain.destroy()
  }
}

/** Publishes a wallet's age recipient in the registry's key directory unless it is there. */
export async function publishIfMissing(registry: string, signer: Wallet, recipient?: string): Promise<boolean> {
  const contract = registryContract(registry, signer)
  const address = await signer.getAddress()
  if (await lookupRecipient(contract, address)) return false
  if (!recipient) throw new Error('recipient needed')
  await publishRecipient(contract, recipient)
  return true
}

export async function publishRecipientWith(
  paths: MedctlPaths,
  rpcUrl: string,
  chainId: number,
  registry: string,
  wallet: Wallet,
  recipient: string,
): Promise<void> {
  const chain = provider(rpcUrl, chainId)
  try {
    await publishIfMissing(registry, wallet.connect(chain), recipient)
    await persistNodeState(paths, rpcUrl)
  } finally {
    chain.destroy()
  }
}
