import {ProfileStore} from '../config/profiles.js'
import {deployRegistry, lookupRecipient, publishRecipient, registryContract} from '../chain/registry.js'
import {consentContext} from '../consent/context.js'
import type {Session} from '../session/session.js'

/**
 * Registry use cases for a profile: each sends its transactions, persists the embedded chain and
 * records the outcome (the profile's registry address), so commands only render.
 */

/** Deploys a ConsentRegistry (this identity is its custodian), publishes its recipient, records it in the profile. */
export async function deployRegistryForProfile(
  session: Session,
): Promise<{address: string; txHash: string; blockNumber: number; profile: string}> {
  const signer = await session.signer()
  const deployed = await deployRegistry(signer)
  await publishRecipient(registryContract(deployed.address, signer), session.identity().recipient)
  await session.chainWritten()
  new ProfileStore(session.paths).set(session.profile.name, 'chain.registry', deployed.address)
  return {...deployed, profile: session.profile.name}
}

/** Publishes this identity's age recipient in the key directory (nothing sent when already there). */
export async function publishOwnRecipient(session: Session): Promise<{address: string; recipient: string; published: boolean}> {
  const ctx = await consentContext(session, {write: true})
  const {address, recipient} = session.identity()
  const already = (await lookupRecipient(ctx.registry, address)) === recipient
  if (!already) {
    await publishRecipient(ctx.registry, recipient, ctx.send)
    await session.chainWritten()
  }
  return {address, recipient, published: !already}
}
