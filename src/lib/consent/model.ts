import {MedctlError, usageError} from '../core/errors.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'

/** HL7 v3 PurposeOfUse codes; a code's position is its bit in the on-chain purposes mask. */
export const PURPOSES = ['TREAT', 'ETREAT', 'HPAYMT', 'HOPERAT', 'HRESCH', 'PUBHLTH', 'PATRQT', 'BTG'] as const
export type Purpose = (typeof PURPOSES)[number]
export type Decision = 'Permit' | 'Deny' | 'NoConsent'
export const REASONS = [
  'None',
  'Granted',
  'Expired',
  'NotYetValid',
  'Revoked',
  'PurposeNotCovered',
  'ClassNotCovered',
  'OptedOut',
  'BreakGlass',
] as const
export const DECISIONS: readonly Decision[] = ['NoConsent', 'Permit', 'Deny']

export interface CheckResult {
  decision: Decision
  reason: string
  consentId?: string
  breakGlass?: boolean
}

export function isPurpose(value: string): value is Purpose {
  return (PURPOSES as readonly string[]).includes(value)
}

export function purposeBit(purpose: Purpose): number {
  return PURPOSES.indexOf(purpose)
}

export function purposesMask(purposes: readonly Purpose[]): number {
  return purposes.reduce((mask, p) => mask | (1 << purposeBit(p)), 0)
}

export function purposesFromMask(mask: number): Purpose[] {
  return PURPOSES.filter((_, bit) => mask & (1 << bit))
}

export function classesMask(classes: readonly DataClass[]): number {
  return classes.reduce((mask, c) => mask | (1 << DATA_CLASSES.indexOf(c)), 0)
}

export function classesFromMask(mask: number): DataClass[] {
  return DATA_CLASSES.filter((_, bit) => mask & (1 << bit))
}

export function parsePurposes(input: string): Purpose[] {
  const list = input
    .split(',')
    .map((p) => p.trim().toUpperCase())
    .filter(Boolean)
  const bad = list.filter((p) => !isPurpose(p))
  if (list.length === 0 || bad.length > 0) {
    const shown = bad.map((p) => (/^[A-Z][A-Z0-9_-]{0,23}$/.test(p) ? `"${p}"` : '(a value)')).join(', ')
    throw usageError(
      'E_BAD_PURPOSE',
      `${list.length === 0 ? 'No purpose of use given' : `Unknown purpose of use ${shown}`}. Purposes: ${PURPOSES.join(', ')}.`,
    )
  }
  return [...new Set(list)] as Purpose[]
}

const YEAR = 365 * 86_400

/** The contract's cap on a consent's duration, per purpose (BTG: only through break-glass). */
export const MAX_DURATION_SECONDS: Record<Purpose, number> = {
  TREAT: 5 * YEAR,
  ETREAT: 86_400,
  HPAYMT: 2 * YEAR,
  HOPERAT: 2 * YEAR,
  HRESCH: 10 * YEAR,
  PUBHLTH: 5 * YEAR,
  PATRQT: YEAR,
  BTG: 0,
}

function humanDuration(seconds: number): string {
  if (seconds === 0) return 'no time at all (break-glass only)'
  if (seconds % YEAR === 0) return `${seconds / YEAR} year${seconds === YEAR ? '' : 's'}`
  if (seconds % 86_400 === 0) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`
  return `${Math.round(seconds / 3600)} hours`
}

/** Refuses, before anything is signed, a window longer than the purpose allows, naming the limit. */
export function assertDuration(purpose: Purpose, notBefore: number, notAfter: number, now: number): void {
  const duration = notAfter - Math.max(notBefore, now)
  const cap = MAX_DURATION_SECONDS[purpose]
  if (duration > cap) {
    throw new MedctlError(
      'E_DURATION_TOO_LONG',
      `A ${purpose} consent may last at most ${humanDuration(cap)}; this one would last ${humanDuration(Math.ceil(duration / 86_400) * 86_400)}.`,
      {
        exitCode: 2,
        suggestions: [`Choose an --until within ${humanDuration(cap)} of the start.`],
      },
    )
  }
}

const UNITS: Record<string, number> = {m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000}

/**
 * A point in time in seconds: an ISO date/time, or a duration from `now` (`30d`, `12h`, `1y`).
 * The reference `now` is the chain's time, so durations mean what the contract will see.
 */
export function parseWhen(input: string, now: number, flag: string): number {
  const duration = /^(\d+)\s*([mhdwy])$/i.exec(input.trim())
  if (duration) return now + Number(duration[1]) * (UNITS[(duration[2] as string).toLowerCase()] as number)
  const ms = Date.parse(input)
  if (Number.isNaN(ms)) throw usageError('E_BAD_DATE', `--${flag} takes an ISO date (2027-01-31) or a duration (30d, 12h, 1y).`)
  return Math.floor(ms / 1000)
}

export function decisionFromChain(decision: bigint | number, reason: bigint | number, consentId: string): CheckResult {
  const d = DECISIONS[Number(decision)] as Decision
  const r = REASONS[Number(reason)] ?? 'None'
  const hasId = consentId && !/^0x0+$/.test(consentId)
  return {
    decision: d,
    reason: d === 'NoConsent' ? 'NoConsent' : r === 'Granted' ? 'Permit' : r,
    ...(hasId ? {consentId} : {}),
    ...(r === 'BreakGlass' ? {breakGlass: true} : {}),
  }
}
