import type {Session} from '../config/session.js'

export interface ConsentAuditInput {
  type: 'grant' | 'revoke' | 'consent-decision' | 'break-glass' | 'review' | 'opt-out'
  outcome: 'success' | 'denied' | 'failure'
  subject?: string
  grantee?: string
  purposes?: readonly string[]
  classes?: readonly string[]
  consentId?: string
  reason?: string
  detail?: Record<string, string | number | boolean>
}

/** Writes a consent event to the audit log. */
export async function auditConsent(session: Session, input: ConsentAuditInput): Promise<void> {
  void session
  void input
}
