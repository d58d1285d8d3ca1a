import {MedctlError, usageError} from '../cli/errors.js'
import {DATA_CLASSES, isDataClass, type DataClass} from '../fhir/data-classes.js'

/** HL7 v3 PurposeOfUse codes; a code's position is its bit in the on-chain purposes mask. */
export const PURPOSES = ['TREAT', 'ETREAT', 'HPAYMT', 'HOPERAT', 'HRESCH', 'PUBHLTH', 'PATRQT', 'BTG'] as const
export type Purpose = (typeof PURPOSES)[number]
export type Decision = 'Permit' | 'Deny' | 'NoConsent'
export const REASONS = ['None', 'Granted', 'Expired', 'NotYetValid', 'Revoked', 'PurposeNotCovered', 'ClassNotCovered', 'OptedOut', 'BreakGlass'] as const
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
  const list = input.split(',').map((p) => p.trim().toUpperCase()).filter(Boolean)
  const bad = list.filter((p) => !isPurpose(p))
  if (list.length === 0 || bad.length > 0) throw usageError('E_BAD_PURPOSE', `Unknown purpose of use. Purposes: ${PURPOSES.join(', ')}.`)
  return [...new Set(list)] as Purpose[]
}

export function parseClasses(input: string): DataClass[] {
  const list = input.split(',').map((c) => c.trim()).filter(Boolean)
  if (list.length === 0 || list.some((c) => !isDataClass(c))) throw usageError('E_BAD_CLASS', `Unknown data class. Classes: ${DATA_CLASSES.join(', ')}.`)
  return [...new Set(list)] as DataClass[]
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
  return {decision: d, reason: d === 'NoConsent' ? 'NoConsent' : r === 'Granted' ? 'Permit' : r, ...(hasId ? {consentId} : {}), ...(r === 'BreakGlass' ? {breakGlass: true} : {})}
}

export function assertAddress(value: string, what: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw new MedctlError('E_BAD_ADDRESS', `${what} must be a 0x address or a profile name.`, {exitCode: 2})
  return value
}
