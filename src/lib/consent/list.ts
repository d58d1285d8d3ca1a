import type {EventLog} from 'ethers'
import type {ConsentRegistry} from '../chain/registry.js'
import {DEFAULT_LOG_RANGE, deploymentBlock, queryPaged} from '../chain/logs.js'
import type {DataClass} from '../fhir/data-classes.js'
import {classesFromMask, PURPOSES, type Purpose} from './model.js'
import {currentConsent, decodeRecord, subjectState, type CurrentConsent} from './registry.js'

export type ConsentStatus = 'active' | 'revoked' | 'expired' | 'pending' | 'superseded'

export interface ConsentRecord {
  consentId: string
  subject: string
  grantee: string
  purpose: Purpose
  /** The one purpose, as a list (the shape of a FHIR Consent's provision.purpose). */
  purposes: Purpose[]
  classes: DataClass[]
  notBefore: number
  notAfter: number
  termsHash: string
  signedBy: 'controller' | 'custodian'
  status: ConsentStatus
  blockNumber: number
  txHash: string
}

export interface ListFilter {
  subject?: string
  grantee?: string
  purpose?: Purpose
  /** The chain's time the statuses are judged at. */
  now: number
  blockTag?: number
  /** Blocks per eth_getLogs request (default 5,000). */
  logRange?: number
}

/**
 * Every consent ever granted (from `Granted` events, scanned from the registry's deployment block
 * in bounded ranges), with its status from the chain: revoked (by id or by a revoke-all) wins over
 * superseded (a newer grant took the scope), then expired / pending / active.
 */
export async function listConsents(registry: ConsentRegistry, filter: ListFilter): Promise<ConsentRecord[]> {
  const scan = {
    fromBlock: await deploymentBlock(registry),
    ...(filter.blockTag === undefined ? {} : {toBlock: filter.blockTag}),
    range: filter.logRange ?? DEFAULT_LOG_RANGE,
  }
  const granted = (await queryPaged(registry, registry.filters.Granted(filter.subject ?? null, filter.grantee ?? null), scan)) as EventLog[]
  if (granted.length === 0) return []
  const revokedIds = new Set(
    ((await queryPaged(registry, registry.filters.Revoked(), scan)) as EventLog[]).map((e) => (e.args.consentId as string).toLowerCase()),
  )
  const current = new Map<string, Promise<CurrentConsent>>()
  const epochs = new Map<string, Promise<number>>()
  const records: ConsentRecord[] = []
  for (const event of granted) {
    const subject = (event.args.subject as string).toLowerCase()
    const grantee = event.args.grantee as string
    const r = decodeRecord(event.args.record as bigint)
    const purpose = PURPOSES[r.purpose] as Purpose
    if (filter.purpose && purpose !== filter.purpose) continue
    const scope = `${subject}|${grantee}|${r.purpose}`
    if (!current.has(scope)) current.set(scope, currentConsent(registry, subject, grantee, r.purpose, filter.blockTag))
    if (!epochs.has(subject))
      epochs.set(
        subject,
        subjectState(registry, subject, filter.blockTag).then((s) => s.epoch),
      )
    const [now, epoch] = await Promise.all([current.get(scope) as Promise<CurrentConsent>, epochs.get(subject) as Promise<number>])
    let status: ConsentStatus
    if (revokedIds.has(r.consentId) || r.epoch < epoch) status = 'revoked'
    else if (now.consentId !== r.consentId) status = 'superseded'
    else if (r.notAfter < filter.now) status = 'expired'
    else if (r.notBefore > filter.now) status = 'pending'
    else status = 'active'
    records.push({
      consentId: r.consentId,
      subject,
      grantee,
      purpose,
      purposes: [purpose],
      classes: classesFromMask(r.classes),
      notBefore: r.notBefore,
      notAfter: r.notAfter,
      termsHash: event.args.termsHash as string,
      signedBy: r.byController ? 'controller' : 'custodian',
      status,
      blockNumber: event.blockNumber,
      txHash: event.transactionHash,
    })
  }
  return records
}

/** One consent by id (E_UNKNOWN_CONSENT handled by the caller when undefined). */
export async function findConsent(
  registry: ConsentRegistry,
  consentId: string,
  filter: Omit<ListFilter, 'subject' | 'grantee' | 'purpose'>,
): Promise<ConsentRecord | undefined> {
  const id = consentId.toLowerCase()
  return (await listConsents(registry, filter)).find((c) => c.consentId === id)
}
