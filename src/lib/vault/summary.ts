import {randomUUID} from 'node:crypto'
import type {DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'

/** The classes the custodian's emergency summary reads. */
export const SUMMARY_CLASSES: readonly DataClass[] = ['demographics', 'allergies', 'medications', 'conditions', 'labs', 'vitals']

/**
 * What a clinician gets under break-glass: exactly the emergency summary, from these classes only.
 * A key release permitted by an open break-glass window (not by a consent) is limited to them.
 */
export const BREAK_GLASS_CLASSES: readonly DataClass[] = ['allergies', 'medications', 'conditions', 'labs']

/**
 * The emergency summary: what an emergency clinician needs first — allergies, active medications,
 * active conditions, blood group and the latest vital signs — in the shape of the HL7 International
 * Patient Summary (IPS). Built from the decrypted record only; pure (no I/O).
 */
export interface SummaryItem {
  /** What it is, as the record's coding says (display or text). */
  text: string
  /** The code (system|code) when the record has one. */
  code?: string
  /** When it was recorded, started or measured. */
  date?: string
  /** A value with its unit (vital signs, blood group). */
  value?: string
  /** The resource it comes from (type/id), which the IPS Bundle includes. */
  ref: string
}

export interface EmergencySummary {
  allergies: SummaryItem[]
  medications: SummaryItem[]
  conditions: SummaryItem[]
  bloodGroup: SummaryItem | null
  vitals: SummaryItem[]
}

type R = FhirResource & Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

const LOINC = 'http://loinc.org'
const BLOOD_ABO_RH = '882-1'
const BLOOD_ABO = '883-9'
const BLOOD_RH = '10331-7'
/** The vital signs an emergency clinician reads first (LOINC). */
const VITALS = new Set(['8867-4', '8480-6', '8462-4', '85354-9', '9279-1', '8310-5', '59408-5', '2708-6', '29463-7', '8302-2', '39156-5'])

function codingOf(concept: R | undefined): {text: string; code?: string; loinc?: string} {
  const codings = (concept?.coding ?? []) as Array<{system?: string; code?: string; display?: string}>
  const first = codings.find((c) => c.display) ?? codings[0]
  const loinc = codings.find((c) => c.system === LOINC)?.code
  return {
    text: concept?.text ?? first?.display ?? first?.code ?? 'unknown',
    ...(first?.code ? {code: `${first.system ?? ''}|${first.code}`} : {}),
    ...(loinc ? {loinc} : {}),
  }
}

const statusOf = (concept: R | undefined): string | undefined => (concept?.coding as Array<{code?: string}> | undefined)?.[0]?.code
const refOf = (r: R): string => `${r.resourceType}/${r.id ?? ''}`

function quantity(r: R): string | undefined {
  if (r.valueQuantity) return `${r.valueQuantity.value}${r.valueQuantity.unit ? ` ${r.valueQuantity.unit}` : ''}`
  if (r.valueCodeableConcept) return codingOf(r.valueCodeableConcept).text
  if (r.valueString) return String(r.valueString)
  const parts = ((r.component ?? []) as R[]).map((c) => `${codingOf(c.code).text}: ${quantity(c) ?? '?'}`)
  return parts.length ? parts.join('; ') : undefined
}

const dateOf = (r: R): string | undefined =>
  r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued ?? r.onsetDateTime ?? r.recordedDate ?? r.authoredOn ?? r.dateAsserted

/** The summary of a patient's resources (any classes; the relevant ones are picked). */
export function emergencySummary(resources: readonly FhirResource[]): EmergencySummary {
  const all = resources as R[]
  const allergies = all
    .filter(
      (r) =>
        r.resourceType === 'AllergyIntolerance' &&
        !['inactive', 'resolved'].includes(statusOf(r.clinicalStatus) ?? '') &&
        statusOf(r.verificationStatus) !== 'entered-in-error' &&
        statusOf(r.verificationStatus) !== 'refuted',
    )
    .map((r) => ({...codingOf(r.code), ...(dateOf(r) ? {date: dateOf(r)} : {}), ref: refOf(r)}))
  const medications = all
    .filter((r) => (r.resourceType === 'MedicationRequest' || r.resourceType === 'MedicationStatement') && r.status === 'active')
    .map((r) => ({
      ...codingOf(r.medicationCodeableConcept ?? {text: r.medicationReference?.display}),
      ...(dateOf(r) ? {date: dateOf(r)} : {}),
      ref: refOf(r),
    }))
  const conditions = all
    .filter(
      (r) =>
        r.resourceType === 'Condition' &&
        ['active', 'recurrence', 'relapse'].includes(statusOf(r.clinicalStatus) ?? '') &&
        statusOf(r.verificationStatus) !== 'entered-in-error',
    )
    .map((r) => ({...codingOf(r.code), ...(dateOf(r) ? {date: dateOf(r)} : {}), ref: refOf(r)}))
  const observations = all
    .filter((r) => r.resourceType === 'Observation' && r.status !== 'entered-in-error')
    .sort((a, b) => String(dateOf(b) ?? '').localeCompare(String(dateOf(a) ?? '')))
  const loincOf = (r: R) => codingOf(r.code).loinc
  const blood = observations.find((r) => loincOf(r) === BLOOD_ABO_RH)
  const abo = observations.find((r) => loincOf(r) === BLOOD_ABO)
  const rh = observations.find((r) => loincOf(r) === BLOOD_RH)
  let bloodGroup: SummaryItem | null = null
  if (blood)
    bloodGroup = {
      text: 'Blood group (ABO and Rh)',
      code: `${LOINC}|${BLOOD_ABO_RH}`,
      value: quantity(blood) ?? '?',
      ...(dateOf(blood) ? {date: dateOf(blood)} : {}),
      ref: refOf(blood),
    }
  else if (abo)
    bloodGroup = {
      text: 'Blood group (ABO and Rh)',
      code: `${LOINC}|${BLOOD_ABO}`,
      value: `${quantity(abo) ?? '?'}${rh ? ` ${quantity(rh) ?? ''}` : ''}`.trim(),
      ...(dateOf(abo) ? {date: dateOf(abo)} : {}),
      ref: refOf(abo),
    }
  const latest = new Map<string, R>()
  for (const r of observations) {
    const code = loincOf(r)
    if (code && VITALS.has(code) && !latest.has(code)) latest.set(code, r)
  }
  const vitals = [...latest.values()].map((r) => ({
    ...codingOf(r.code),
    value: quantity(r) ?? '?',
    ...(dateOf(r) ? {date: dateOf(r)} : {}),
    ref: refOf(r),
  }))
  return {allergies, medications, conditions, bloodGroup, vitals}
}

interface SectionSpec {
  title: string
  loinc: string
  items: SummaryItem[]
}

/**
 * The IPS document Bundle: a Composition (LOINC 60591-5, "Patient summary Document") first, then
 * the Patient and every resource a section references. Sections with nothing say so (emptyReason).
 */
export function ipsBundle(summary: EmergencySummary, resources: readonly FhirResource[], now = new Date()): FhirResource {
  const byRef = new Map((resources as R[]).map((r) => [refOf(r), r]))
  const patient = (resources as R[]).find((r) => r.resourceType === 'Patient')
  const sections: SectionSpec[] = [
    {title: 'Allergies and Intolerances', loinc: '48765-2', items: summary.allergies},
    {title: 'Medication Summary', loinc: '10160-0', items: summary.medications},
    {title: 'Problem List', loinc: '11450-4', items: summary.conditions},
    {title: 'Vital Signs', loinc: '8716-3', items: summary.vitals},
    {title: 'Results', loinc: '30954-2', items: summary.bloodGroup ? [summary.bloodGroup] : []},
  ]
  const included = new Map<string, R>()
  if (patient) included.set(refOf(patient), patient)
  const composition: R = {
    resourceType: 'Composition',
    id: randomUUID(),
    status: 'final',
    type: {coding: [{system: LOINC, code: '60591-5', display: 'Patient summary Document'}]},
    ...(patient ? {subject: {reference: `urn:uuid:${patient.id}`}} : {}),
    date: now.toISOString(),
    author: [{display: "medctl (custodian's record)"}],
    title: 'Emergency patient summary',
    section: sections.map((s) => {
      const refs = s.items.map((i) => i.ref).filter((ref) => byRef.has(ref))
      for (const ref of refs) included.set(ref, byRef.get(ref) as R)
      return {
        title: s.title,
        code: {coding: [{system: LOINC, code: s.loinc}]},
        text: {
          status: 'generated',
          div: `<div xmlns="http://www.w3.org/1999/xhtml">${s.items.length ? s.items.map((i) => escapeHtml(`${i.text}${i.value ? `: ${i.value}` : ''}`)).join('<br/>') : 'None recorded.'}</div>`,
        },
        ...(refs.length
          ? {entry: refs.map((ref) => ({reference: `urn:uuid:${(byRef.get(ref) as R).id}`}))}
          : {emptyReason: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'unavailable'}]}}),
      }
    }),
  }
  const entries = [composition, ...included.values()]
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    identifier: {system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}`},
    type: 'document',
    timestamp: now.toISOString(),
    entry: entries.map((resource) => ({fullUrl: `urn:uuid:${resource.id}`, resource})),
  }
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
