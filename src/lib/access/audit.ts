import {recordAudit} from '../audit/record.js'
import type {Session} from '../session/session.js'

export interface AccessAuditInput {
  type: 'key-release' | 'consent-decision' | 'fetch'
  outcome: 'success' | 'denied' | 'failure'
  subject?: string
  grantee?: string
  purpose?: string
  classes?: readonly string[]
  cids?: string[]
  consentId?: string
  reason?: string
  custodian?: string
  /** Write-ahead steps of one action: `intent` before the act, `written` once it is done. */
  phase?: 'intent' | 'written'
  /** More facts for the entry's detail (what was delivered, break-glass). */
  detail?: Record<string, string | number | boolean>
}

/** Every access attempt, allowed or denied, goes into the audit log. */
export async function auditAccess(session: Session, input: AccessAuditInput): Promise<void> {
  await recordAudit(session, {
    type: input.type,
    action: input.type === 'key-release' ? 'E' : 'R',
    outcome: input.outcome,
    ...(input.reason ? {reason: input.reason} : {}),
    ...(input.subject ? {subject: input.subject} : {}),
    ...(input.cids ? {cids: input.cids} : {}),
    ...(input.classes ? {classes: input.classes} : {}),
    ...(input.consentId ? {consentId: input.consentId} : {}),
    ...(input.purpose ? {purpose: input.purpose} : {}),
    ...(input.custodian ? {custodian: input.custodian} : {}),
    ...(input.grantee || input.phase || input.detail
      ? {detail: {...(input.grantee ? {grantee: input.grantee} : {}), ...(input.phase ? {phase: input.phase} : {}), ...input.detail}}
      : {}),
  })
}
