import {CID} from 'multiformats/cid'
import {create} from 'kubo-rpc-client'
import {recordAudit} from '../audit/record.js'
import {readLog} from '../audit/log.js'
import {revokeConsents} from '../consent/revoke.js'
import {MedctlError} from '../core/errors.js'
import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {shredSubject} from '../vault/erase.js'
import {subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'

export interface CopyHolder {
  /** The grantee a key was released to (address), per the audit log. */
  grantee: string
  classes: string[]
  releases: number
  lastRelease: string
}

export interface EraseResult {
  subject: string
  erasedAt: string
  revokeAll: {txHash?: string; gasUsed?: string}
  objects: number
  envelopes: number
  blocks: number
  rows: number
  /** CIDs unpinned on the profile's Kubo node(s); failures leave the blocks there, still undecryptable. */
  unpinned: number
  unpinFailures: string[]
  /** Who already holds a copy (keys released before the erasure): erasure cannot recall those. */
  copiesHeldBy: CopyHolder[]
}

/** Grantees a key of the subject's objects was released to, from this home's audit log. */
export function copyHolders(auditDir: string, subject: string): CopyHolder[] {
  const holders = new Map<string, CopyHolder>()
  for (const line of readLog(auditDir)) {
    let entry: {
      type?: string
      outcome?: string
      subject?: string
      classes?: string[]
      recorded?: string
      detail?: {grantee?: string; phase?: string}
    }
    try {
      entry = JSON.parse(line.bytes.toString('utf8')) as typeof entry
    } catch {
      continue
    }
    if (entry.type !== 'key-release' || entry.outcome !== 'success' || entry.subject !== subject || entry.detail?.phase === 'intent')
      continue
    const grantee = entry.detail?.grantee ?? 'unknown'
    const h = holders.get(grantee) ?? {grantee, classes: [], releases: 0, lastRelease: ''}
    h.releases++
    h.classes = [...new Set([...h.classes, ...(entry.classes ?? [])])].sort()
    if ((entry.recorded ?? '') > h.lastRelease) h.lastRelease = entry.recorded ?? ''
    holders.set(grantee, h)
  }
  return [...holders.values()]
}

async function unpinAll(urls: readonly string[], cids: readonly string[]): Promise<{unpinned: number; failures: string[]}> {
  let unpinned = 0
  const failures: string[] = []
  for (const url of urls) {
    const client = create({url, timeout: 10_000})
    for (const cid of cids) {
      try {
        await client.pin.rm(CID.parse(cid))
        unpinned++
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        if (!/not pinned/i.test(message)) failures.push(`${cid}: ${message.slice(0, 120)}`)
      }
    }
  }
  return {unpinned, failures}
}

/**
 * `records erase` (GDPR Art. 17) by crypto-shredding, in order: audit intent; revoke-all on chain
 * (O(1), so no grant of the subject is ever active again); destroy every key envelope, block and
 * index row the custodian holds for the subject in one transaction, leaving a tombstone so every
 * later command about the patient fails with E_ERASED; unpin the objects on the profile's Kubo
 * node; audit the outcome with the CIDs and who already holds a copy.
 */
export async function erasePatient(session: Session, q: {patient: string}): Promise<EraseResult> {
  const custodian = await custodianContext(session)
  const subject = subjectForPatient(custodian, q.patient)
  const index = new RecordIndex(custodian.db, custodian.address)
  if (!index.hasSubject(subject) && index.objects({subject, attachments: 'include'}).length === 0)
    throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient.', {exitCode: 2})
  const copiesHeldBy = copyHolders(session.paths.auditDir, subject)
  await recordAudit(session, {type: 'revoke', action: 'D', outcome: 'success', subject, detail: {kind: 'erase', phase: 'intent'}})
  let revoke: EraseResult['revokeAll'] = {}
  if (session.profile.chain.registry) {
    const revoked = await revokeConsents(session, {patient: q.patient, all: true})
    revoke = {...(revoked.txHash ? {txHash: revoked.txHash} : {}), ...(revoked.gasUsed ? {gasUsed: revoked.gasUsed} : {})}
  }
  const shred = shredSubject(custodian.db, custodian.address, subject)
  const profile = session.profile
  const urls = [...new Set([...(profile.store.type === 'kubo' ? [profile.store.url] : []), ...(profile.kuboUrl ? [profile.kuboUrl] : [])])]
  const unpin = urls.length > 0 ? await unpinAll(urls, shred.cids) : {unpinned: 0, failures: []}
  await recordAudit(session, {
    type: 'revoke',
    action: 'D',
    outcome: 'success',
    subject,
    cids: shred.cids,
    detail: {
      kind: 'erase',
      phase: 'written',
      objects: shred.cids.length,
      envelopes: shred.envelopes,
      blocks: shred.blocks,
      unpinned: unpin.unpinned,
      unpinFailures: unpin.failures.length,
      copiesHeldBy: copiesHeldBy.length,
    },
  })
  return {
    subject,
    erasedAt: shred.erasedAt,
    revokeAll: revoke,
    objects: shred.cids.length,
    envelopes: shred.envelopes,
    blocks: shred.blocks,
    rows: shred.rows,
    unpinned: unpin.unpinned,
    unpinFailures: unpin.failures,
    copiesHeldBy,
  }
}
