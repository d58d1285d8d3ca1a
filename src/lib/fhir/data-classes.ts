import type {FhirResource} from './types.js'

/**
 * Data classes split a patient's record so consent can be granular. The order is part of the
 * on-chain format: a class's position is its bit in the consent `classes` bitmask. Append only.
 */
export const DATA_CLASSES = [
  'demographics',
  'encounters',
  'conditions',
  'medications',
  'allergies',
  'labs',
  'vitals',
  'procedures',
  'immunizations',
  'imaging',
  'notes',
  'claims',
  'other',
] as const
export type DataClass = (typeof DATA_CLASSES)[number]

export function isDataClass(value: string): value is DataClass {
  return (DATA_CLASSES as readonly string[]).includes(value)
}

/** Resources that describe the organisation, not a patient: stored as reference data. */
const REFERENCE_TYPES = new Set([
  'Organization',
  'Practitioner',
  'PractitionerRole',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'Substance',
  'Device',
  'ValueSet',
  'CodeSystem',
])

export function isReferenceData(resource: FhirResource): boolean {
  return REFERENCE_TYPES.has(resource.resourceType)
}

/** THE table: resource type → data class (Observation and DiagnosticReport by category). */
const CLASS_BY_TYPE: Record<string, DataClass> = {
  Patient: 'demographics',
  RelatedPerson: 'demographics',
  Encounter: 'encounters',
  EpisodeOfCare: 'encounters',
  Appointment: 'encounters',
  Condition: 'conditions',
  MedicationRequest: 'medications',
  MedicationStatement: 'medications',
  MedicationAdministration: 'medications',
  MedicationDispense: 'medications',
  AllergyIntolerance: 'allergies',
  Procedure: 'procedures',
  Immunization: 'immunizations',
  ImmunizationRecommendation: 'immunizations',
  ImagingStudy: 'imaging',
  Media: 'imaging',
  DocumentReference: 'notes',
  ClinicalImpression: 'notes',
  Composition: 'notes',
  Claim: 'claims',
  ClaimResponse: 'claims',
  ExplanationOfBenefit: 'claims',
  Coverage: 'claims',
  Specimen: 'labs',
}

const CLASS_BY_OBSERVATION_CATEGORY: Record<string, DataClass> = {
  laboratory: 'labs',
  'vital-signs': 'vitals',
  imaging: 'imaging',
  procedure: 'procedures',
}

function categoryCodes(resource: FhirResource): string[] {
  const categories = (resource.category as Array<{coding?: Array<{code?: string}>}> | undefined) ?? []
  return categories.flatMap((c) => (c.coding ?? []).map((coding) => coding.code ?? ''))
}

export function classOf(resource: FhirResource): DataClass {
  if (resource.resourceType === 'Observation') {
    for (const code of categoryCodes(resource)) if (CLASS_BY_OBSERVATION_CATEGORY[code]) return CLASS_BY_OBSERVATION_CATEGORY[code]
    return 'other'
  }
  if (resource.resourceType === 'DiagnosticReport') {
    const codes = categoryCodes(resource)
    if (codes.some((c) => ['RAD', 'imaging'].includes(c))) return 'imaging'
    if (codes.some((c) => ['LAB', 'laboratory'].includes(c))) return 'labs'
    return 'notes'
  }
  return CLASS_BY_TYPE[resource.resourceType] ?? 'other'
}
