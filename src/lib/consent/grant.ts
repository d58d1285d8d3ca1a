import {createHash} from 'node:crypto'
import {getAddress} from 'ethers'
import {MedctlError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import {custodianContext, type CustodianContext} from '../vault/custodian.js'
import {subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import {auditConsent, auditedConsentIds} from './audit.js'
import {consentContext, type ConsentContext} from './context.js'
import {assertDuration, classesMask, parseWhen, purposeBit, type Purpose} from './model.js'
import {consentIdOf, currentConsent, epochOf, newNonce, signGrant, submitGrant, type GrantInput} from './registry.js'
import {consentResource, randomSalt, sealTerms, storeTerms, termsGranted, termsHashOf} from './terms.js'

export interface GrantRequest {
  /** The patient, as system|value. */
  patient: string
  /** The grantee's address. */
  grantee: string
  purposes: readonly Purpose[]
  classes: readonly DataClass[]
  /** Start of validity as the user wrote it (ISO date or duration); default now. */
  from?: string
  /** End of validity as the user wrote it (ISO date or duration from now). */
  until: string
  /** Grant even when the vault holds no record of the patient (a typo is the usual reason). */
  allowUnknownPatient?: boolean
  confirmations?: number
}

export interface GrantedConsent {
  purpose: Purpose
  consentId: string
  txHash: string
  blockNumber: number
  gasUsed: string
  /** The identical grant was already on chain: nothing changed. */
  noop: boolean
  /** The consent for the same purpose this one replaced (its terms are no longer in force). */
  replaced?: string
  /** Finished from the transaction journal after an interrupted run (no second transaction). */
  resumed?: boolean
}

export interface GrantOutcome {
  subject: string
  grantee: string
  notBefore: number
  notAfter: number
  consents: GrantedConsent[]
  warnings: string[]
}

/** What a journalled grant transaction carries for its bookkeeping if the run is cut short. */
interface GrantPayload {
  grant: Omit<GrantInput, 'nonce'> & {nonce: string}
  sealed: string
  replaced?: string
}

/**
 * The custodian grants a patient's consent (one consent per purpose, side by side), as a use case
 * that owns its side effects in order: check the patient, sign, journal and send the transaction,
 * persist the chain, audit, store the sealed terms, close the journal entry. A re-run of the same
 * request after a crash finds its journalled transaction and finishes it instead of granting twice.
 */
export async function grantConsent(session: Session, request: GrantRequest): Promise<GrantOutcome> {
  const custodian = await custodianContext(session)
  const subject = subjectForPatient(custodian, request.patient)
  if (!request.allowUnknownPatient && !new RecordIndex(custodian.db, custodian.address).hasSubject(subject)) {
    throw new MedctlError(
      'E_UNKNOWN_PATIENT',
      'This vault holds no record of that patient: a grant for them is most likely a typo in the identifier.',
      {
        exitCode: 2,
        suggestions: [
          'Check the system|value with `medctl records list`.',
          'Pass --allow-unknown-patient to grant before the records are imported.',
        ],
      },
    )
  }
  const ctx = await consentContext(session, {write: true})
  const grantee = getAddress(request.grantee)
  const notBefore = request.from ? parseWhen(request.from, ctx.now, 'from') : ctx.now
  const notAfter = parseWhen(request.until, ctx.now, 'until')
  for (const purpose of request.purposes) assertDuration(purpose, notBefore, notAfter, ctx.now)
  const epoch = await epochOf(ctx.registry, subject)
  const consents: GrantedConsent[] = []
  const warnings: string[] = []
  for (const purpose of request.purposes) {
    const granted = await grantOnePurpose(session, custodian, ctx, {...request, purpose, subject, grantee, notBefore, notAfter, epoch})
    if (granted.replaced)
      warnings.push(`The ${purpose} consent ${granted.replaced} was replaced by ${granted.consentId} (same patient, grantee and purpose).`)
    consents.push(granted)
  }
  return {subject, grantee, notBefore, notAfter, consents, warnings}
}

async function grantOnePurpose(
  session: Session,
  custodian: CustodianContext,
  ctx: ConsentContext,
  q: GrantRequest & {purpose: Purpose; subject: string; grantee: string; notBefore: number; notAfter: number; epoch: number},
): Promise<GrantedConsent> {
  const journal = ctx.journal
  const intent = `grant:${createHash('sha256')
    .update(JSON.stringify([ctx.address, q.subject, q.grantee, q.purpose, [...q.classes].sort(), q.from ?? '', q.until]))
    .digest('hex')}`
  const open = journal?.unfinished(ctx.chainId, intent)
  let grant: GrantInput
  let sealed: Uint8Array
  let replaced: string | undefined
  if (open?.payload) {
    const payload = JSON.parse(open.payload) as GrantPayload
    grant = {...payload.grant, nonce: BigInt(payload.grant.nonce)}
    sealed = Buffer.from(payload.sealed, 'base64')
    replaced = payload.replaced
  } else {
    const bit = purposeBit(q.purpose)
    const current = await currentConsent(ctx.registry, q.subject, q.grantee, bit)
    const consent = consentResource({
      patient: {identifier: q.patient},
      grantee: q.grantee,
      purposes: [q.purpose],
      classes: q.classes,
      notBefore: q.notBefore,
      notAfter: q.notAfter,
    })
    const salt = randomSalt()
    sealed = await sealTerms(custodian.recipient, salt, consent)
    grant = {
      subject: q.subject,
      epoch: q.epoch,
      grantee: q.grantee,
      purpose: bit,
      classes: classesMask(q.classes),
      notBefore: q.notBefore,
      notAfter: q.notAfter,
      termsHash: termsHashOf(salt, consent),
      nonce: newNonce(current.consentId ? current.nonce : undefined),
      deadline: ctx.now + 3600,
    }
    if (current.consentId && !current.revoked && current.notAfter >= ctx.now) replaced = current.consentId
  }
  const consentId = consentIdOf(grant)
  const payload: GrantPayload = {
    grant: {...grant, nonce: grant.nonce.toString()},
    sealed: Buffer.from(sealed).toString('base64'),
    ...(replaced ? {replaced} : {}),
  }
  const signature = await signGrant(custodian.wallet, ctx.chainId, ctx.address, grant)
  const result = await submitGrant(ctx.registry, grant, signature, {
    ...ctx.send,
    confirmations: q.confirmations ?? 1,
    intent,
    payload: JSON.stringify(payload),
  })
  await session.chainWritten()
  const resumed = Boolean(open)
  // Audit first, terms second: stored terms mean the audit entry is written too. A resumed run
  // that finds neither looks in the log before writing, so no grant is audited twice.
  if (!result.noop && !termsGranted(custodian.db, custodian.address, grant.termsHash)) {
    const already = resumed && auditedConsentIds(session, 'grant').has(consentId)
    if (!already) {
      await auditConsent(session, {
        type: 'grant',
        outcome: 'success',
        subject: q.subject,
        grantee: q.grantee,
        purposes: [q.purpose],
        classes: q.classes,
        consentId,
        detail: {...(replaced ? {replaced} : {}), ...(resumed ? {recovered: true} : {})},
      })
    }
    storeTerms(custodian.db, custodian.address, [{consentId, subject: q.subject, termsHash: grant.termsHash, sealed}])
  }
  journal?.finish(result.txHash)
  return {
    purpose: q.purpose,
    consentId,
    txHash: result.txHash,
    blockNumber: result.blockNumber,
    gasUsed: result.gasUsed,
    noop: result.noop,
    ...(replaced && !result.noop ? {replaced} : {}),
    ...(resumed ? {resumed: true} : {}),
  }
}
