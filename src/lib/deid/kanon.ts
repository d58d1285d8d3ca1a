import {ExitCode, MedctlError} from '../core/errors.js'
import type {FhirResource} from './engine.js'

/** URL of the extension that marks a patient whose age is over 89 (Safe Harbor's single 90+ category). */
export const AGE_GROUP_EXTENSION_URL = 'https://medctl.dev/fhir/StructureDefinition/age-group'
export const AGE_90_PLUS = '90+'

/** A quasi-identifier computed from a de-identified Patient resource. */
export interface QuasiIdentifier {
  name: string
  value(patient: FhirResource): string
}

export function ageGroupOf(patient: FhirResource): string | undefined {
  const ext = Array.isArray(patient.extension) ? (patient.extension as Array<Record<string, unknown>>) : []
  const hit = ext.find((e) => e.url === AGE_GROUP_EXTENSION_URL)
  return typeof hit?.valueString === 'string' ? hit.valueString : undefined
}

export function birthYearOf(patient: FhirResource): number | undefined {
  const m = typeof patient.birthDate === 'string' ? /^(\d{4})/.exec(patient.birthDate) : null
  return m ? Number(m[1]) : undefined
}

/** Birth year in bands of `width` years (`1980-1989`); the 90+ category is its own band. */
export function birthYearBand(width = 10): QuasiIdentifier {
  if (!Number.isInteger(width) || width < 1) {
    throw new MedctlError('E_KANON_QI', 'birth-year band width must be a positive integer', {exitCode: ExitCode.USAGE})
  }
  return {
    name: width === 1 ? 'birthYear' : `birthYearBand${width}`,
    value(patient) {
      if (ageGroupOf(patient) === AGE_90_PLUS) return AGE_90_PLUS
      const y = birthYearOf(patient)
      if (y === undefined) return 'unknown'
      const start = Math.floor(y / width) * width
      return width === 1 ? String(y) : `${start}-${start + width - 1}`
    },
  }
}

export const GENDER: QuasiIdentifier = {
  name: 'gender',
  value: (patient) => (typeof patient.gender === 'string' ? patient.gender : 'unknown'),
}

export const ZIP3: QuasiIdentifier = {
  name: 'zip3',
  value(patient) {
    const addresses = Array.isArray(patient.address) ? (patient.address as Array<Record<string, unknown>>) : []
    const zip = addresses.map((a) => a.postalCode).find((z): z is string => typeof z === 'string')
    const m = zip ? /^(\d{3})/.exec(zip) : null
    return m ? m[1] : 'unknown'
  },
}

export const DEFAULT_QUASI_IDENTIFIERS: readonly QuasiIdentifier[] = [birthYearBand(10), GENDER, ZIP3]

export interface KAnonReport {
  k: number
  quasiIdentifiers: string[]
  /** Patients before suppression. */
  patients: number
  retained: number
  /** Patients suppressed (with all their resources) because their class had fewer than k. */
  suppressed: number
  /** Equivalence classes left after suppression. */
  classes: number
  suppressedClasses: number
  /** Size of the smallest class left (0 when none is left). */
  smallestClass: number
  /** Highest re-identification risk left: 1 / smallestClass (0 when nothing is left). */
  maxRisk: number
}

/**
 * Groups items by their quasi-identifier values and suppresses every class smaller than k.
 * Order of `retained` follows the input order.
 */
export function kAnonymize<T>(
  items: readonly T[],
  k: number,
  quasiIdentifiers: readonly QuasiIdentifier[],
  patientOf: (item: T) => FhirResource,
): {retained: T[]; suppressed: T[]; report: KAnonReport} {
  if (!Number.isInteger(k) || k < 1) {
    throw new MedctlError('E_KANON_K', `k must be a positive integer (got ${k})`, {exitCode: ExitCode.USAGE})
  }
  const classes = new Map<string, T[]>()
  for (const item of items) {
    const patient = patientOf(item)
    const key = JSON.stringify(quasiIdentifiers.map((q) => q.value(patient)))
    let members = classes.get(key)
    if (!members) classes.set(key, (members = []))
    members.push(item)
  }
  const small = new Set<T>()
  let kept = 0
  let suppressedClasses = 0
  let smallest = Infinity
  for (const members of classes.values()) {
    if (members.length < k) {
      suppressedClasses++
      for (const m of members) small.add(m)
    } else {
      kept++
      smallest = Math.min(smallest, members.length)
    }
  }
  const retained = items.filter((i) => !small.has(i))
  const suppressed = items.filter((i) => small.has(i))
  const smallestClass = kept === 0 ? 0 : smallest
  return {
    retained,
    suppressed,
    report: {
      k,
      quasiIdentifiers: quasiIdentifiers.map((q) => q.name),
      patients: items.length,
      retained: retained.length,
      suppressed: suppressed.length,
      classes: kept,
      suppressedClasses,
      smallestClass,
      maxRisk: smallestClass === 0 ? 0 : 1 / smallestClass,
    },
  }
}
