import {createHash} from 'node:crypto'
import type {EventLog} from 'ethers'
import type {ConsentRegistry} from '../chain/registry.js'
import {deploymentBlock, queryPaged} from '../chain/logs.js'
import type {SendOptions} from '../chain/client.js'
import type {ProgressEvent} from '../core/progress.js'
import {RejectReport, type RejectRecord} from '../fhir/reject-report.js'
import type {CustodianContext} from '../vault/custodian.js'
import {indexHash} from '../vault/pseudonym.js'
import {subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import type {ConsentAuditInput} from './audit.js'
import {isEmptyInput, readConsents, type ConsentLine, type ConsentReject} from './import-reader.js'
import {MedctlError} from '../core/errors.js'
import {classesMask, purposeBit, type Purpose} from './model.js'
import {REJECTION_CODES, consentIdOf, currentConsent, decodeRecord, epochOf, grantBatch, nonceAt, type GrantInput} from './registry.js'
import {derivedSalt, sealTerms, storeTerms, termsGranted, termsHashOf} from './terms.js'

export interface ConsentImportOptions {
  file: string
  custodian: CustodianContext
  /** The registry, connected to the custodian's signer; not used by a dry run. */
  registry?: ConsentRegistry
  batchSize: number
  reportPath?: string
  dryRun?: boolean
  confirmations?: number
  resolveGrantee: (nameOrAddress: string) => string
  stdin?: NodeJS.ReadableStream
  onProgress?: (event: ProgressEvent) => void
  /** After each batch transaction: persist the chain, so a crash later loses nothing mined. */
  afterBatch?: () => Promise<void>
  /** The audit entries of the grants a batch made (or that an interrupted run made and did not record). */
  audit?: (entries: ConsentAuditInput[]) => Promise<void>
  /** The consent ids the audit log already holds grant entries for (read only when recovering). */
  auditedGrants?: () => Set<string>
  /** Grant for patients this vault has no record of (else each is rejected E_UNKNOWN_PATIENT). */
  allowUnknownPatients?: boolean
  /** Journal and timeouts for the batch transactions (exactly-once sends). */
  send?: SendOptions
}

export interface ConsentImportResult {
  read: number
  valid: number
  granted: number
  duplicates: number
  rejected: number
  transactions: number
  gasUsed: string
  /** On-chain consents the valid lines make (one per purpose): consents = granted + duplicates + rejected. */
  consents: number
  /** Grants for patients with no records in this vault, made because allowUnknownPatients was set. */
  unknownPatients: number
  report: string | null
  dryRun: boolean
  /** A dry run without a report lists its rejects here (line or entry, code; no values). */
  rejects?: Array<{line?: number; entry?: number; code: string}>
}

interface Pending {
  line: ConsentLine
  purpose: Purpose
  subject: string
  grant: Omit<GrantInput, 'epoch'>
  salt: Buffer
}

/** A pending consent once the subject's revoke-all epoch is known, and with it the consent id. */
interface Prepared extends Pending {
  grant: GrantInput
  consentId: string
}

/**
 * Grants every consent of a file in batches through `grantBatch`, one on-chain consent per purpose
 * of a FHIR Consent. Salt derives from the Consent under the custodian's key and the nonce from its
 * date, so a consent has the same id on every run, and a newer Consent orders after an older one:
 * what the chain already holds is a duplicate and costs no gas, which makes the import idempotent
 * and lets an interrupted one (kill -9) resume by running it again. Each batch is reconciled with
 * the chain's current state first (never a replay of the plan): a scope holding a newer consent
 * rejects an older one (E_CONSENT_SUPERSEDED), a revoked one stays revoked, and terms granted by an
 * earlier run are never granted again. Invariant: read = granted + duplicates + rejected (per
 * consent line: a multi-purpose line counts once, as granted if any of its purposes was).
 */
export async function importConsents(options: ConsentImportOptions): Promise<ConsentImportResult> {
  const {custodian} = options
  const index = new RecordIndex(custodian.db, custodian.address)
  const counts = {read: 0, valid: 0, consents: 0, granted: 0, duplicates: 0, rejected: 0, transactions: 0, unknownPatients: 0}
  let gasUsed = 0n
  const report = new RejectReport(options.reportPath)
  const listRejects = Boolean(options.dryRun) && !options.reportPath
  const listed: NonNullable<ConsentImportResult['rejects']> = []
  const outcomes = new Map<string, {code: string; message: string} | 'ok'>()
  let pending: Pending[] = []

  const reject = (item: Pick<ConsentReject, 'location' | 'code' | 'message'> & {resourceType?: string; id?: string}): void => {
    counts.rejected++
    if (listRejects && listed.length < 10_000)
      listed.push({
        ...(item.location.line === undefined ? {} : {line: item.location.line}),
        ...(item.location.entry === undefined ? {} : {entry: item.location.entry}),
        code: item.code,
      })
    const record: RejectRecord = {
      file: item.location.file,
      ...(item.location.line === undefined ? {} : {line: item.location.line}),
      ...(item.location.entry === undefined ? {} : {entry: item.location.entry}),
      resourceType: item.resourceType ?? 'Consent',
      ...(item.id ? {id: item.id} : {}),
      code: item.code,
      message: item.message,
    }
    report.write(record)
  }
  const rejectPrepared = (p: Prepared, code: string, message: string): void =>
    reject({location: p.line.location, code, message, ...(p.line.id ? {id: p.line.id} : {})})

  const flush = async (): Promise<void> => {
    const queued = pending
    pending = []
    if (queued.length === 0) return
    const registry = options.registry as ConsentRegistry
    const subjects = [...new Set(queued.map((p) => p.subject))]
    const epochs = new Map(await Promise.all(subjects.map(async (subject) => [subject, await epochOf(registry, subject)] as const)))
    const batch: Prepared[] = queued.map((p) => {
      const grant = {...p.grant, epoch: epochs.get(p.subject) as number}
      return {...p, grant, consentId: consentIdOf(grant)}
    })
    const onChain = await Promise.all(batch.map((p) => currentConsent(registry, p.subject, p.grant.grantee, p.grant.purpose)))
    // Where a scope holds another consent, ask the chain's history whether these very terms were
    // granted before (by a run killed before its bookkeeping, possibly superseded in the same
    // batch, or voided since by a revoke-all): reconcile with what happened, never replay the plan.
    const history = new Map<string, Promise<Map<string, string>>>()
    const priorGrant = (p: Prepared): Promise<string | undefined> => {
      const pair = `${p.subject}|${p.grant.grantee}`
      if (!history.has(pair)) history.set(pair, grantsByTerms(registry, p.subject, p.grant.grantee))
      return (history.get(pair) as Promise<Map<string, string>>).then((byTerms) => byTerms.get(p.grant.termsHash.toLowerCase()))
    }
    const prior = await Promise.all(
      batch.map((p, i) => {
        const chain = onChain[i] as Awaited<ReturnType<typeof currentConsent>>
        const suspicious =
          chain.consentId !== undefined &&
          chain.consentId !== p.consentId &&
          !outcomes.has(p.consentId) &&
          !termsGranted(custodian.db, custodian.address, p.grant.termsHash)
        return suspicious ? priorGrant(p) : Promise.resolve(undefined)
      }),
    )
    const toSend: Prepared[] = []
    const twins: Prepared[] = []
    const recovered = new Set<Prepared>()
    const sending = new Set<string>()
    batch.forEach((p, i) => {
      const known = outcomes.get(p.consentId)
      const chain = onChain[i] as Awaited<ReturnType<typeof currentConsent>>
      if (known === 'ok') counts.duplicates++
      else if (known) rejectPrepared(p, known.code, known.message)
      else if (sending.has(p.consentId)) twins.push(p)
      else if (chain.consentId === p.consentId.toLowerCase() && chain.revoked) {
        const message = 'This consent was revoked; revocation is final. A new consent needs different terms.'
        outcomes.set(p.consentId, {code: 'E_CONSENT_REVOKED', message})
        rejectPrepared(p, 'E_CONSENT_REVOKED', message)
      } else if (termsGranted(custodian.db, custodian.address, p.grant.termsHash)) {
        // Granted by an earlier run (its terms are stored only once the chain has it), even if
        // a later consent for the pair, or a revoke-all, has since replaced it: never re-grant.
        outcomes.set(p.consentId, 'ok')
        counts.duplicates++
      } else if (chain.consentId === p.consentId.toLowerCase()) {
        // On chain but not recorded here: a run was interrupted between its transaction and its bookkeeping.
        outcomes.set(p.consentId, 'ok')
        counts.duplicates++
        recovered.add(p)
      } else if (prior[i]) {
        // Granted by an interrupted run under this id, and replaced since: record it, never re-grant.
        outcomes.set(p.consentId, 'ok')
        counts.duplicates++
        const original = {...p, consentId: prior[i] as string}
        outcomes.set(original.consentId, 'ok')
        recovered.add(original)
      } else if (chain.consentId && chain.nonce >= p.grant.nonce) {
        const message = 'The chain holds a newer consent for this patient, grantee and purpose; an older one never takes its place.'
        outcomes.set(p.consentId, {code: 'E_CONSENT_SUPERSEDED', message})
        rejectPrepared(p, 'E_CONSENT_SUPERSEDED', message)
      } else {
        sending.add(p.consentId)
        toSend.push(p)
      }
    })
    const granted: Prepared[] = []
    if (toSend.length > 0) {
      const result = await grantBatch(
        registry,
        toSend.map((p) => p.grant),
        {...options.send, confirmations: options.confirmations ?? 1},
      )
      counts.transactions++
      gasUsed += BigInt(result.gasUsed)
      const rejections = new Map(result.rejected.map((r) => [r.index, r.reason]))
      toSend.forEach((p, i) => {
        const reason = rejections.get(i)
        if (reason === undefined) {
          outcomes.set(p.consentId, 'ok')
          granted.push(p)
        } else {
          const failure = {code: REJECTION_CODES[reason] ?? 'E_GRANT_REJECTED', message: `The registry rejected the grant: ${reason}.`}
          outcomes.set(p.consentId, failure)
          rejectPrepared(p, failure.code, failure.message)
        }
      })
      counts.granted += granted.length
      await options.afterBatch?.()
    }
    for (const twin of twins) {
      const outcome = outcomes.get(twin.consentId)
      if (outcome === 'ok') counts.duplicates++
      else if (outcome) rejectPrepared(twin, outcome.code, outcome.message)
    }
    // Audit first, terms second: a crash between the two makes the next run record the grant again
    // (flagged recovered), never lose its audit entry.
    const toStore = [...granted, ...recovered]
    // A recovered grant may have its audit entry already (the run died between audit and terms).
    const audited = recovered.size > 0 ? (options.auditedGrants?.() ?? new Set<string>()) : new Set<string>()
    await options.audit?.(
      toStore
        .filter((p) => !audited.has(p.consentId))
        .map((p) => ({
          type: 'grant',
          outcome: 'success',
          subject: p.subject,
          grantee: p.grant.grantee,
          purposes: [p.purpose],
          classes: p.line.classes,
          consentId: p.consentId,
          detail: {via: 'import', ...(recovered.has(p) ? {recovered: true} : {})},
        })),
    )
    const sealed = await Promise.all(
      toStore.map(async (p) => ({
        consentId: p.consentId,
        subject: p.subject,
        termsHash: p.grant.termsHash,
        sealed: await sealTerms(custodian.recipient, p.salt, p.line.consent),
      })),
    )
    storeTerms(custodian.db, custodian.address, sealed)
  }

  try {
    for await (const item of readConsents(options.file, {
      resolveGrantee: options.resolveGrantee,
      ...(options.stdin ? {stdin: options.stdin} : {}),
    })) {
      counts.read++
      options.onProgress?.({phase: options.dryRun ? 'validating' : 'granting', done: counts.read, unit: 'consents'})
      if (item.kind === 'reject') {
        if (isEmptyInput(item))
          throw new MedctlError('E_EMPTY_INPUT', 'The input holds no consent: nothing to import.', {
            exitCode: 2,
            suggestions: ['Check the file (an empty file, a header-only CSV or a Bundle without entries).'],
          })
        counts.consents++
        reject(item)
        continue
      }
      let subject: string
      if ('identifier' in item.patient) {
        subject = subjectForPatient(custodian, item.patient.identifier)
        if (!index.hasSubject(subject)) {
          if (!options.allowUnknownPatients) {
            counts.consents += item.purposes.length
            for (let i = 0; i < item.purposes.length; i++)
              reject({
                location: item.location,
                code: 'E_UNKNOWN_PATIENT',
                message:
                  'This vault holds no record of the patient this consent names (most likely a typo in the identifier); import the records first or pass --allow-unknown-patient.',
                ...(item.id ? {id: item.id} : {}),
              })
            continue
          }
          counts.unknownPatients++
        }
      } else {
        const known = index.subjectForRef(indexHash(custodian.pseudonymKey, 'ref', item.patient.reference))
        if (!known) {
          counts.consents += item.purposes.length
          for (let i = 0; i < item.purposes.length; i++)
            reject({
              location: item.location,
              code: 'E_UNKNOWN_PATIENT',
              message: 'The patient reference names no patient imported into this vault; name the patient by identifier instead.',
              ...(item.id ? {id: item.id} : {}),
            })
          continue
        }
        subject = known
      }
      counts.valid++
      counts.consents += item.purposes.length
      if (options.dryRun) continue
      // One on-chain consent per purpose; its nonce orders by the Consent's date (a newer one wins).
      const dated = Date.parse(
        String(item.consent.dateTime ?? (item.consent.meta as {lastUpdated?: string} | undefined)?.lastUpdated ?? ''),
      )
      const ms = Number.isNaN(dated) ? item.notBefore * 1000 : dated
      for (const purpose of item.purposes) {
        const salt = derivedSalt(custodian.pseudonymKey, item.consent, `${item.grantee}:${purpose}`)
        const grant: Omit<GrantInput, 'epoch'> = {
          subject,
          grantee: item.grantee,
          purpose: purposeBit(purpose),
          classes: classesMask(item.classes),
          notBefore: item.notBefore,
          notAfter: item.notAfter,
          termsHash: termsHashOf(salt, item.consent),
          nonce: nonceAt(ms, createHash('sha256').update('medctl:consent-nonce:').update(salt).digest()),
          deadline: 0,
        }
        pending.push({line: item, purpose, subject, grant, salt})
      }
      if (pending.length >= options.batchSize) await flush()
    }
    await flush()
  } finally {
    report.close()
  }
  return {
    ...counts,
    gasUsed: gasUsed.toString(),
    report: report.path,
    dryRun: Boolean(options.dryRun),
    ...(listRejects ? {rejects: listed} : {}),
  }
}

/** termsHash → consent id of every grant a (subject, grantee) pair ever received, from the chain's events. */
async function grantsByTerms(registry: ConsentRegistry, subject: string, grantee: string): Promise<Map<string, string>> {
  const events = (await queryPaged(registry, registry.filters.Granted(subject, grantee), {
    fromBlock: await deploymentBlock(registry),
  })) as EventLog[]
  return new Map(events.map((e) => [(e.args.termsHash as string).toLowerCase(), decodeRecord(e.args.record as bigint).consentId]))
}
