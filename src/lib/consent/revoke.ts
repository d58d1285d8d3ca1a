import {getAddress} from 'ethers'
import {MedctlError, usageError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import {auditConsent} from './audit.js'
import {consentContext, subjectOf, type ConsentContext} from './context.js'
import {findConsent} from './list.js'
import {PURPOSES, purposeBit, type Purpose} from './model.js'
import {currentConsent, revokeAll, revokeConsent, scopeOf} from './registry.js'

export interface RevokeRequest {
  /** A consent id (0x…, 20 bytes). */
  consentId?: string
  /** The patient (custodian) or the subject pseudonym (a patient's own wallet). */
  patient?: string
  subject?: string
  grantee?: string
  /** Only these purposes' consents (default: every purpose the pair has). */
  purposes?: readonly Purpose[]
  /** Every consent of the patient, at once (O(1) on chain). */
  all?: boolean
  confirmations?: number
  logRange?: number
}

export interface RevokedConsent {
  consentId: string
  grantee: string
  purpose: Purpose
  /** Nothing was sent: the consent was already revoked, or is no longer the scope's current one. */
  noop: boolean
  reason?: 'already-revoked' | 'superseded'
  txHash?: string
  blockNumber?: number
  gasUsed?: string
}

export interface RevokeOutcome {
  subject: string
  all: boolean
  revoked: RevokedConsent[]
  /** revoke-all only. */
  txHash?: string
  gasUsed?: string
  noop: boolean
}

/**
 * Revokes consents, as a use case: finds what is in force, sends one exactly-once transaction per
 * consent still active (nothing for one already revoked or superseded), persists the chain, audits.
 * A custodian revokes by scope; a patient's own wallet (the subject's controller) as controller.
 */
export async function revokeConsents(session: Session, request: RevokeRequest): Promise<RevokeOutcome> {
  const ctx = await consentContext(session, {write: true})
  const asController = session.profile.role !== 'custodian'
  if (request.all) {
    const subject = await subjectOf(session, request)
    const result = await revokeAll(ctx.registry, subject, {
      ...ctx.send,
      confirmations: request.confirmations ?? 1,
      intent: `revokeAll:${ctx.address}:${subject}`,
    })
    await session.chainWritten()
    await auditConsent(session, {type: 'revoke', outcome: 'success', subject, detail: {all: true}})
    ctx.journal?.finish(result.txHash)
    return {subject, all: true, revoked: [], txHash: result.txHash, gasUsed: result.gasUsed, noop: false}
  }
  let targets: Array<{subject: string; grantee: string; purpose: Purpose; consentId?: string}>
  if (request.consentId) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(request.consentId))
      throw usageError('E_BAD_CONSENT_ID', 'A consent id is 0x followed by 40 hex digits.')
    const found = await findConsent(ctx.registry, request.consentId, {
      now: ctx.now,
      ...(request.logRange ? {logRange: request.logRange} : {}),
    })
    if (!found)
      throw new MedctlError('E_UNKNOWN_CONSENT', `No consent ${request.consentId} on this registry.`, {
        exitCode: 2,
        suggestions: ['List them with `medctl consent list`.'],
      })
    targets = [{subject: found.subject, grantee: found.grantee, purpose: found.purpose, consentId: found.consentId}]
  } else if ((request.patient || request.subject) && request.grantee) {
    const subject = await subjectOf(session, request)
    const grantee = getAddress(request.grantee)
    targets = (request.purposes?.length ? request.purposes : PURPOSES).map((purpose) => ({subject, grantee, purpose}))
  } else {
    throw usageError('E_USAGE', 'Name the consent id, or --patient with --grantee [--purpose], or --patient with --all.')
  }
  const revoked: RevokedConsent[] = []
  for (const target of targets) {
    const done = await revokeOne(session, ctx, target, asController, request)
    if (done) revoked.push(done)
  }
  if (revoked.length === 0) {
    throw new MedctlError(
      'E_UNKNOWN_CONSENT',
      `That patient has no consent for that grantee${request.purposes?.length ? ` and purpose ${request.purposes.join(', ')}` : ''}.`,
      {exitCode: 2},
    )
  }
  return {subject: targets[0]?.subject as string, all: false, revoked, noop: revoked.every((r) => r.noop)}
}

async function revokeOne(
  session: Session,
  ctx: ConsentContext,
  target: {subject: string; grantee: string; purpose: Purpose; consentId?: string},
  asController: boolean,
  request: RevokeRequest,
): Promise<RevokedConsent | undefined> {
  const bit = purposeBit(target.purpose)
  const current = await currentConsent(ctx.registry, target.subject, target.grantee, bit)
  const wanted = target.consentId?.toLowerCase() ?? current.consentId
  if (!wanted) return undefined
  const base = {consentId: wanted, grantee: target.grantee, purpose: target.purpose}
  if (current.consentId !== wanted) return {...base, noop: true, reason: 'superseded'}
  if (current.revoked) return {...base, noop: true, reason: 'already-revoked'}
  const result = await revokeConsent(
    ctx.registry,
    {subject: target.subject, grantee: target.grantee, purpose: bit, asController},
    {
      ...ctx.send,
      confirmations: request.confirmations ?? 1,
      intent: `revoke:${scopeOf(target.subject, target.grantee, bit)}:${wanted}`,
    },
  )
  await session.chainWritten()
  await auditConsent(session, {
    type: 'revoke',
    outcome: 'success',
    subject: target.subject,
    grantee: target.grantee,
    purposes: [target.purpose],
    consentId: wanted,
  })
  ctx.journal?.finish(result.txHash)
  return {...base, noop: false, txHash: result.txHash, blockNumber: result.blockNumber, gasUsed: result.gasUsed}
}
