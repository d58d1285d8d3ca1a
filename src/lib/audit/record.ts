import type {Session} from '../session/session.js'
import type {AuditInput} from './entry.js'
import {anchorIfDue, appendAuditBatch} from './service.js'

/** How many entries may accumulate before the log anchors its tree head by itself. */
export function anchorEvery(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env.MEDCTL_AUDIT_ANCHOR_EVERY ?? 100)
  return Number.isInteger(value) && value > 0 ? value : 100
}

/**
 * Appends one audit entry on behalf of the session's identity (the actor) and, for a custodian
 * with a registry, anchors the tree head every `anchorEvery()` entries.
 */
export async function recordAudit(session: Session, input: SessionAuditInput): Promise<void> {
  await recordAuditBatch(session, [input])
}

export type SessionAuditInput = Omit<AuditInput, 'actor'> & {actor?: AuditInput['actor']}

/** Appends several entries in one durable write (bulk commands: one fsync per batch). */
export async function recordAuditBatch(session: Session, inputs: readonly SessionAuditInput[]): Promise<void> {
  if (inputs.length === 0) return
  const identity = session.identity()
  const ownCustodian = session.profile.role === 'custodian' ? identity.address : undefined
  await appendAuditBatch(
    session.paths,
    inputs.map((input) => {
      const custodian = input.custodian ?? ownCustodian
      return {...input, actor: input.actor ?? {address: identity.address, profile: session.profile.name}, ...(custodian ? {custodian} : {})}
    }),
  )
  if (session.profile.role === 'custodian' && session.profile.chain.registry) await anchorIfDue(session, anchorEvery())
}
