import {ExitCode, MedctlError} from '../core/errors.js'
import {deidentifyResource, type FhirResource} from './engine.js'
import {
  AGE_90_PLUS,
  AGE_GROUP_EXTENSION_URL,
  DEFAULT_QUASI_IDENTIFIERS,
  kAnonymize,
  type KAnonReport,
  type QuasiIdentifier,
} from './kanon.js'
import {deriveExportKeys, pseudonymId} from './keys.js'
import type {LoadedRules} from './rules.js'

export interface CohortPatient {
  /** Every resource of one patient: exactly one Patient plus the resources that point to it. */
  resources: FhirResource[]
}

export interface DeidentifyCohortOptions {
  patients: readonly CohortPatient[]
  rules: LoadedRules
  /** The 32-byte per-export key (from --key-file). Same key + same input = same output. */
  key: Uint8Array
  k: number
  quasiIdentifiers?: readonly QuasiIdentifier[]
  /** `YYYY-MM-DD` the ages are computed at; pass the pinned block's date so re-runs match. */
  referenceDate: string
  /**
   * Source id -> resource type of resources the records point at but the export leaves out
   * (organisations, practitioners, locations): a `urn:uuid:` reference to one becomes
   * `Type/<pseudonym>`, a FHIR R4 reference that validators can check, instead of a bare urn.
   */
  knownTypes?: ReadonlyMap<string, string>
  onProgress?: (done: number, total: number) => void
}

export interface DeidentifiedPatient {
  /** Per-export pseudonym of the patient (the de-identified Patient's id). */
  patientId: string
  /** True when the patient is over 89 at the reference date: birth date removed, 90+ category. */
  ageOver89: boolean
  /** Quasi-identifier values (by name) the k-anonymity check used. */
  quasiIdentifiers: Record<string, string>
  /** De-identified resources, sorted by resource type then id. */
  resources: FhirResource[]
}

export interface DeidentifyCohortResult {
  patients: DeidentifiedPatient[]
  kanon: KAnonReport
  stats: {
    patientsIn: number
    /** Groups without exactly one Patient resource: left out (no class to check them in). */
    patientsWithoutPatientResource: number
    resourcesIn: number
    resourcesOut: number
    /** Resources a rule failed on under `processingErrors: "skip"`. */
    resourcesSkipped: number
    agesOver89: number
  }
}

export function ageAt(birthDate: string, referenceDate: string): number | undefined {
  const b = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?/.exec(birthDate)
  const r = /^(\d{4})-(\d{2})-(\d{2})/.exec(referenceDate)
  if (!b || !r) return undefined
  // Unknown month/day count as the start of the period: the oldest the person can be.
  const bm = b[2] ? Number(b[2]) : 1
  const bd = b[3] ? Number(b[3]) : 1
  let age = Number(r[1]) - Number(b[1])
  if (Number(r[2]) < bm || (Number(r[2]) === bm && Number(r[3]) < bd)) age--
  return age
}

function byTypeThenId(a: FhirResource, b: FhirResource): number {
  if (a.resourceType !== b.resourceType) return a.resourceType < b.resourceType ? -1 : 1
  const ai = a.id ?? ''
  const bi = b.id ?? ''
  return ai < bi ? -1 : ai > bi ? 1 : 0
}

/** Safe Harbor's age fold: no birth date at all, and a single "90+" category in its place. */
function foldAgeOver89(patient: FhirResource): void {
  delete patient.birthDate
  delete patient._birthDate
  const ext = Array.isArray(patient.extension) ? (patient.extension as Array<Record<string, unknown>>) : []
  patient.extension = [...ext.filter((e) => e.url !== AGE_GROUP_EXTENSION_URL), {url: AGE_GROUP_EXTENSION_URL, valueString: AGE_90_PLUS}]
}

/**
 * De-identifies a cohort (pure: no I/O, never prints): applies the rules to every resource,
 * replaces ids and references with per-export pseudonyms, folds ages over 89, then enforces
 * k-anonymity over the quasi-identifiers by suppressing whole patients.
 */
export function deidentifyCohort(opts: DeidentifyCohortOptions): DeidentifyCohortResult {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(opts.referenceDate)) {
    throw new MedctlError('E_DEID_REFERENCE_DATE', `referenceDate must be YYYY-MM-DD (got ${JSON.stringify(opts.referenceDate)})`, {
      exitCode: ExitCode.USAGE,
    })
  }
  const {rules} = opts
  const keys = deriveExportKeys(opts.key, rules.parameters)
  const quasiIdentifiers = opts.quasiIdentifiers ?? DEFAULT_QUASI_IDENTIFIERS

  const idTypes = new Map<string, string>(opts.knownTypes ?? [])
  for (const p of opts.patients) for (const r of p.resources) if (typeof r.id === 'string') idTypes.set(r.id, r.resourceType)

  const stats = {
    patientsIn: opts.patients.length,
    patientsWithoutPatientResource: 0,
    resourcesIn: 0,
    resourcesOut: 0,
    resourcesSkipped: 0,
    agesOver89: 0,
  }
  const out: Array<{patient: FhirResource; item: DeidentifiedPatient}> = []
  const engine = {rules, keys, referenceDate: opts.referenceDate, idTypes}
  opts.patients.forEach((group, index) => {
    stats.resourcesIn += group.resources.length
    const sourcePatients = group.resources.filter((r) => r.resourceType === 'Patient')
    if (sourcePatients.length !== 1) {
      stats.patientsWithoutPatientResource++
      return
    }
    const source = sourcePatients[0]
    const patientKey = source.id ?? `#${index}`
    const age = typeof source.birthDate === 'string' ? ageAt(source.birthDate, opts.referenceDate) : undefined
    const over89 = age !== undefined && age > 89
    const resources: FhirResource[] = []
    let patient: FhirResource | undefined
    for (const r of group.resources) {
      const d = deidentifyResource(r, engine, {patientKey})
      if (!d) {
        stats.resourcesSkipped++
        continue
      }
      if (r === source) patient = d
      resources.push(d)
    }
    if (!patient) {
      stats.patientsWithoutPatientResource++
      return
    }
    if (over89) {
      foldAgeOver89(patient)
      stats.agesOver89++
    }
    resources.sort(byTypeThenId)
    const qi: Record<string, string> = {}
    for (const q of quasiIdentifiers) qi[q.name] = q.value(patient)
    out.push({
      patient,
      item: {patientId: patient.id ?? pseudonymId(keys, patientKey), ageOver89: over89, quasiIdentifiers: qi, resources},
    })
    opts.onProgress?.(index + 1, opts.patients.length)
  })

  const {retained, report} = kAnonymize(out, opts.k, quasiIdentifiers, (o) => o.patient)
  const patients = retained.map((o) => o.item).sort((a, b) => (a.patientId < b.patientId ? -1 : a.patientId > b.patientId ? 1 : 0))
  stats.resourcesOut = patients.reduce((n, p) => n + p.resources.length, 0)
  return {patients, kanon: report, stats}
}
