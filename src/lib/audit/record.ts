import type {Profile} from '../config/profiles.js'
import type {Session} from '../session/session.js'
import type {AuditInput} from './entry.js'
import {readHeads} from './heads.js'
import {readLog} from './log.js'
import {anchorLog, appendAuditBatch, auditLog, type AnchorResult} from './service.js'

export const DEFAULT_ANCHOR_EVERY = 100

/**
 * When the custodian's log anchors its tree head by itself: after `every` entries no anchor covers,
 * or once `minutes` have passed since the last anchor (since the first entry when none was made)
 * with entries waiting; 0 minutes turns the time rule off. Each setting comes from the environment
 * (MEDCTL_AUDIT_ANCHOR_EVERY, MEDCTL_AUDIT_ANCHOR_MINUTES), else the profile (`profile set
 * audit.anchorEvery 100`, `audit.anchorMinutes 10`), else the default (100 entries, no time rule).
 */
export interface AnchorPolicy {
  every: number
  minutes: number
  from: {every: 'env' | 'profile' | 'default'; minutes: 'env' | 'profile' | 'default'}
}

const wholeNumber = (value: unknown, min: number): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : typeof value === 'number' ? value : Number.NaN
  return Number.isSafeInteger(n) && n >= min ? n : undefined
}

export function anchorPolicy(profile?: Pick<Profile, 'audit'>, env: NodeJS.ProcessEnv = process.env): AnchorPolicy {
  const envEvery = wholeNumber(env.MEDCTL_AUDIT_ANCHOR_EVERY, 1)
  const envMinutes = wholeNumber(env.MEDCTL_AUDIT_ANCHOR_MINUTES, 0)
  const profileEvery = wholeNumber(profile?.audit?.anchorEvery, 1)
  const profileMinutes = wholeNumber(profile?.audit?.anchorMinutes, 0)
  return {
    every: envEvery ?? profileEvery ?? DEFAULT_ANCHOR_EVERY,
    minutes: envMinutes ?? profileMinutes ?? 0,
    from: {
      every: envEvery !== undefined ? 'env' : profileEvery !== undefined ? 'profile' : 'default',
      minutes: envMinutes !== undefined ? 'env' : profileMinutes !== undefined ? 'profile' : 'default',
    },
  }
}

/** How many entries may accumulate before the log anchors by itself (kept for callers of the old API). */
export function anchorEvery(env: NodeJS.ProcessEnv = process.env, profile?: Pick<Profile, 'audit'>): number {
  return anchorPolicy(profile, env).every
}

export interface AnchorDue {
  due: boolean
  /** Which rule made it due. */
  because?: 'entries' | 'minutes'
  /** Entries no anchored head covers. */
  unanchored: number
  /** When the time rule starts counting: the last anchor's time, else the first entry's. */
  since?: string
}

function firstRecorded(dir: string): string | undefined {
  for (const line of readLog(dir)) {
    try {
      const recorded = (JSON.parse(line.bytes.toString('utf8')) as {recorded?: unknown}).recorded
      return typeof recorded === 'string' ? recorded : undefined
    } catch {
      return undefined
    }
  }
  return undefined
}

/** Whether the policy wants an anchor now (cheap: the appender's state and the heads file, plus the first line when nothing was anchored). */
export function anchorDue(dir: string, policy: Pick<AnchorPolicy, 'every' | 'minutes'>, now = Date.now()): AnchorDue {
  const last = readHeads(dir)
    .filter((h) => h.anchor)
    .at(-1)
  const size = auditLog({auditDir: dir}).size()
  const unanchored = Math.max(0, size - (last?.size ?? 0))
  if (unanchored === 0) return {due: false, unanchored}
  if (unanchored >= policy.every) return {due: true, because: 'entries', unanchored}
  if (policy.minutes > 0) {
    const since = last?.time ?? firstRecorded(dir)
    const t = since ? Date.parse(since) : Number.NaN
    if (Number.isFinite(t) && now - t >= policy.minutes * 60_000) return {due: true, because: 'minutes', unanchored, since}
    return {due: false, unanchored, ...(since ? {since} : {})}
  }
  return {due: false, unanchored}
}

/** Anchors when the profile's policy says so (custodian with a registry only). */
export async function anchorIfPolicyDue(
  session: Session,
  now = Date.now(),
): Promise<(AnchorResult & {because: 'entries' | 'minutes'}) | undefined> {
  if (session.profile.role !== 'custodian' || !session.profile.chain.registry) return undefined
  const due = anchorDue(session.paths.auditDir, anchorPolicy(session.profile), now)
  if (!due.due || !due.because) return undefined
  return {...(await anchorLog(session)), because: due.because}
}

export type AnchorReport =
  (AnchorResult & {anchored: true}) | {anchored: false; unanchored: number; policy: {every: number; minutes: number}}

/** `audit anchor`: anchor now, or with `ifDue` only when the policy says so. */
export async function anchorOnRequest(session: Session, options: {ifDue?: boolean} = {}): Promise<AnchorReport> {
  if (options.ifDue) {
    const {every, minutes} = anchorPolicy(session.profile)
    const due = anchorDue(session.paths.auditDir, {every, minutes})
    if (!due.due) return {anchored: false, unanchored: due.unanchored, policy: {every, minutes}}
  }
  return {...(await anchorLog(session)), anchored: true}
}

/**
 * Appends one audit entry on behalf of the session's identity (the actor) and, for a custodian
 * with a registry, anchors the tree head when the anchoring policy says so.
 */
export async function recordAudit(session: Session, input: SessionAuditInput): Promise<void> {
  await recordAuditBatch(session, [input])
}

export type SessionAuditInput = Omit<AuditInput, 'actor'> & {actor?: AuditInput['actor']}

/** Appends several entries in one durable write (bulk commands: one fsync per batch). */
export async function recordAuditBatch(session: Session, inputs: readonly SessionAuditInput[]): Promise<void> {
  if (inputs.length === 0) return
  const identity = session.identity()
  const ownCustodian = session.profile.role === 'custodian' ? identity.address : undefined
  await appendAuditBatch(
    session.paths,
    inputs.map((input) => {
      const custodian = input.custodian ?? ownCustodian
      return {...input, actor: input.actor ?? {address: identity.address, profile: session.profile.name}, ...(custodian ? {custodian} : {})}
    }),
  )
  await anchorIfPolicyDue(session)
}
