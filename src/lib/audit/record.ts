import type {Session} from '../config/session.js'
import type {AuditInput} from './entry.js'
import {anchorIfDue, appendAudit} from './service.js'

/** How many entries may accumulate before the log anchors its tree head by itself. */
export function anchorEvery(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.MEDCTL_AUDIT_ANCHOR_EVERY ?? 100)
  return Number.isInteger(value) && value > 0 ? value : 100
}

/**
 * Appends one audit entry on behalf of the session's identity (the actor) and, for a custodian
 * with a registry, anchors the tree head every `anchorEvery()` entries.
 */
export async function recordAudit(session: Session, input: Omit<AuditInput, 'actor'> & {actor?: AuditInput['actor']}): Promise<void> {
  const identity = session.identity()
  const custodian = input.custodian ?? (session.profile.role === 'custodian' ? identity.address : undefined)
  await appendAudit(session.paths, {...input, actor: input.actor ?? {address: identity.address, profile: session.profile.name}, ...(custodian ? {custodian} : {})})
  if (session.profile.role === 'custodian' && session.profile.chain.registry) await anchorIfDue(session, anchorEvery())
}
