import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {auditConsent, auditedConsentIds} from './audit.js'
import {consentContext} from './context.js'
import {classesFromMask, PURPOSES, type Purpose} from './model.js'
import {consentIdOf, controllerOf, currentConsent, submitGrant} from './registry.js'
import {openSignedGrant} from './signed-grant.js'
import {sealTerms, storeTerms} from './terms.js'

export interface SubmitResult {
  consentId: string
  txHash: string | null
  blockNumber: number | null
  gasUsed: string
  noop: boolean
  signer: string
  signedBy: 'controller' | 'custodian'
  resumed?: boolean
}

/**
 * Relays a grant signed offline, as a use case: checks the file without the chain, sends it once
 * (journalled: a re-run after a crash finishes the same transaction), persists the chain, audits,
 * and on a custodian profile keeps the sealed terms. The contract alone decides whether the grant
 * may land: a replayed, revoked, superseded or re-used-nonce grant is refused whoever submits it.
 */
export async function submitSignedGrant(session: Session, text: string, options: {confirmations?: number} = {}): Promise<SubmitResult> {
  const ctx = await consentContext(session, {write: true})
  const {file, grant, signer} = openSignedGrant(text, {chainId: ctx.chainId, registry: ctx.address})
  const controller = await controllerOf(ctx.registry, grant.subject)
  const signedBy = controller?.toLowerCase() === signer.toLowerCase() ? 'controller' : 'custodian'
  const consentId = consentIdOf(grant)
  const intent = `submit:${ctx.address}:${consentId}`
  const resumed = Boolean(ctx.journal?.unfinished(ctx.chainId, intent))
  const current = await currentConsent(ctx.registry, grant.subject, grant.grantee, grant.purpose)
  if (!resumed && current.consentId === consentId && !current.revoked) {
    // Already on chain: nothing to send, nothing to pay.
    return {consentId, txHash: null, blockNumber: null, gasUsed: '0', noop: true, signer, signedBy}
  }
  const result = await submitGrant(ctx.registry, grant, file.signature, {...ctx.send, confirmations: options.confirmations ?? 1, intent})
  await session.chainWritten()
  const purpose = PURPOSES[grant.purpose] as Purpose
  if (!result.noop && !(resumed && auditedConsentIds(session, 'grant').has(consentId))) {
    await auditConsent(session, {
      type: 'grant',
      outcome: 'success',
      subject: grant.subject,
      grantee: grant.grantee,
      purposes: [purpose],
      classes: classesFromMask(grant.classes),
      consentId,
      detail: {via: 'submit', signer, signedBy, ...(resumed ? {recovered: true} : {})},
    })
  }
  if (session.profile.role === 'custodian') {
    const custodian = await custodianContext(session)
    storeTerms(custodian.db, custodian.address, [
      {
        consentId,
        subject: grant.subject,
        termsHash: grant.termsHash,
        sealed: await sealTerms(custodian.recipient, Buffer.from(file.terms.salt, 'hex'), file.terms.consent),
      },
    ])
  }
  ctx.journal?.finish(result.txHash)
  return {
    consentId,
    txHash: result.txHash,
    blockNumber: result.blockNumber,
    gasUsed: result.gasUsed,
    noop: result.noop,
    signer,
    signedBy,
    ...(resumed ? {resumed: true} : {}),
  }
}
