import type {Contract} from 'ethers'
import {classesFromMask, purposesFromMask, type Purpose} from './model.js'
import type {DataClass} from '../fhir/data-classes.js'

export type ConsentStatus = 'active' | 'revoked' | 'expired' | 'pending' | 'superseded'

export interface ConsentRecord {
  consentId: string
  subject: string
  grantee: string
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

/** Every consent ever granted (from `Granted` events), with its status from the chain now. */
export async function listConsents(registry: Contract, filter: {subject?: string; grantee?: string; now: number; blockTag?: number}): Promise<ConsentRecord[]> {
  const to = filter.blockTag ?? 'latest'
  const granted = await registry.queryFilter(registry.filters.Granted(null, filter.subject ?? null, filter.grantee ?? null), 0, to)
  const revoked = new Set((await registry.queryFilter(registry.filters.Revoked(null, filter.subject ?? null, filter.grantee ?? null), 0, to)).map((e) => (e as unknown as {args: {consentId: string}}).args.consentId))
  const current = new Map<string, {consentId: string; revoked: boolean}>()
  const records: ConsentRecord[] = []
  for (const event of granted) {
    const a = (event as unknown as {args: {consentId: string; subject: string; grantee: string; purposes: bigint; classes: bigint; notBefore: bigint; notAfter: bigint; termsHash: string; byController: boolean}}).args
    const pair = `${a.subject}|${a.grantee}`
    if (!current.has(pair)) {
      const [consentId, , , , , isRevoked] = (await registry.consentOf(a.subject, a.grantee, filter.blockTag === undefined ? {} : {blockTag: filter.blockTag})) as [string, bigint, bigint, bigint, bigint, boolean]
      current.set(pair, {consentId: consentId.toLowerCase(), revoked: isRevoked})
    }
    const now = current.get(pair)
    const notBefore = Number(a.notBefore)
    const notAfter = Number(a.notAfter)
    let status: ConsentStatus
    if (revoked.has(a.consentId)) status = 'revoked'
    else if (now?.consentId !== a.consentId.toLowerCase()) status = 'superseded'
    else if (notAfter < filter.now) status = 'expired'
    else if (notBefore > filter.now) status = 'pending'
    else status = 'active'
    records.push({
      consentId: a.consentId,
      subject: a.subject,
      grantee: a.grantee,
      purposes: purposesFromMask(Number(a.purposes)),
      classes: classesFromMask(Number(a.classes)),
      notBefore,
      notAfter,
      termsHash: a.termsHash,
      signedBy: a.byController ? 'controller' : 'custodian',
      status,
      blockNumber: event.blockNumber,
      txHash: event.transactionHash,
    })
  }
  return records
}
