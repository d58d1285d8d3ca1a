import {recordAuditBatch, type SessionAuditInput} from '../audit/record.js'
import {readLog} from '../audit/log.js'
import type {Session} from '../session/session.js'

export interface ConsentAuditInput {
  type: 'grant' | 'revoke' | 'consent-decision' | 'break-glass' | 'review' | 'opt-out' | 'controller'
  outcome: 'success' | 'denied' | 'failure'
  subject?: string
  grantee?: string
  purposes?: readonly string[]
  classes?: readonly string[]
  consentId?: string
  reason?: string
  detail?: Record<string, string | number | boolean>
}

const ACTION = {grant: 'C', revoke: 'D', 'consent-decision': 'E', 'break-glass': 'E', review: 'U', 'opt-out': 'U', controller: 'U'} as const

/** Consent events (grant, revoke, decision, break-glass, review, opt-out) go into the audit log. */
export async function auditConsent(session: Session, input: ConsentAuditInput): Promise<void> {
  await recordAuditBatch(session, [toAuditInput(input)])
}

export async function auditConsents(session: Session, inputs: readonly ConsentAuditInput[]): Promise<void> {
  await recordAuditBatch(session, inputs.map(toAuditInput))
}

function toAuditInput(input: ConsentAuditInput): SessionAuditInput {
  return {
    type: input.type,
    action: ACTION[input.type],
    outcome: input.outcome,
    ...(input.reason ? {reason: input.reason} : {}),
    ...(input.subject ? {subject: input.subject} : {}),
    ...(input.classes ? {classes: input.classes} : {}),
    ...(input.consentId ? {consentId: input.consentId} : {}),
    ...(input.purposes?.length ? {purpose: input.purposes.join(',')} : {}),
    detail: {...(input.grantee ? {grantee: input.grantee} : {}), ...(input.detail ?? {})},
  }
}

/**
 * The consent ids the audit log already records for an event type (recovery only: a run cut short
 * between its audit entry and its bookkeeping must not write the entry twice). Streams the log.
 */
export function auditedConsentIds(session: Session, type: ConsentAuditInput['type']): Set<string> {
  const ids = new Set<string>()
  const marker = Buffer.from(`"${type}"`)
  for (const line of readLog(session.paths.auditDir)) {
    if (line.torn || !line.bytes.includes(marker)) continue
    try {
      const entry = JSON.parse(line.bytes.toString('utf8')) as {type?: string; consentId?: string}
      if (entry.type === type && entry.consentId) ids.add(entry.consentId.toLowerCase())
    } catch {
      // a damaged line is audit verify's business, not this lookup's
    }
  }
  return ids
}
