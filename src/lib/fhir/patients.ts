import type {FhirResource} from './types.js'

interface Identifier {
  system?: string
  value?: string
  type?: {coding?: Array<{code?: string}>}
}

/** The key a patient is stored under: "system|value" of the MRN when present, else the first identifier. */
export function patientKeyOf(patient: FhirResource): string | undefined {
  const list = Array.isArray(patient.identifier) ? (patient.identifier as Array<Identifier | null>) : []
  const identifiers = list.filter((i): i is Identifier =>
    Boolean(i && typeof i.system === 'string' && i.system && typeof i.value === 'string' && i.value),
  )
  const mrn = identifiers.find((i) => Array.isArray(i.type?.coding) && i.type.coding.some((c) => c?.code === 'MR'))
  const chosen = mrn ?? identifiers[0]
  return chosen ? `${chosen.system}|${chosen.value}` : undefined
}

/** Elements that point at the patient a clinical resource belongs to, in order of preference. */
const PATIENT_ELEMENTS = ['subject', 'patient', 'beneficiary', 'individual']

/** A local Patient reference, as the reader leaves it after resolving: `Patient/<FHIR id>`. */
const LOCAL_PATIENT = /^Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/
/** A reference to something that is not a patient (Observation.subject may be a Group, Device, Location…). */
const OTHER_TYPE = /^(?!Patient\/)[A-Z][A-Za-z]+\/[^/]+/

/** The id of the Patient this resource belongs to, from a local `Patient/<id>` reference. */
export function patientRefOf(resource: FhirResource): string | undefined {
  const link = patientLinkOf(resource)
  return link.kind === 'patient' ? link.id : undefined
}

/**
 * Whom a clinical resource belongs to: a local Patient (by id), nobody (no patient element, or one
 * pointing at a Group, a Device, a Location…), or a problem: a patient named in a way medctl
 * cannot key (a contained Patient, a logical identifier, a display text only).
 */
export function patientLinkOf(
  resource: FhirResource,
): {kind: 'patient'; id: string} | {kind: 'none'} | {kind: 'problem'; code: string; message: string; element: string} {
  for (const element of PATIENT_ELEMENTS) {
    const value = resource[element]
    if (value === undefined || value === null || typeof value !== 'object' || Array.isArray(value)) continue
    const ref = (value as {reference?: unknown}).reference
    if (typeof ref === 'string') {
      const match = LOCAL_PATIENT.exec(ref)
      if (match) return {kind: 'patient', id: match[1] as string}
      if (ref.startsWith('#')) {
        const contained = Array.isArray(resource.contained)
          ? (resource.contained as Array<{resourceType?: unknown; id?: unknown} | null>)
          : []
        const target = contained.find((c) => c && `#${String(c.id)}` === ref)
        if (!target || target.resourceType === 'Patient') {
          return {
            kind: 'problem',
            element,
            code: 'E_CONTAINED_PATIENT',
            message: `${element} points at a contained resource: a patient's records must point at a Patient of its own (Patient/id), imported with them.`,
          }
        }
        continue
      }
      if (OTHER_TYPE.test(ref)) continue
      if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !/\/Patient\/[^/]+/.test(ref)) continue
      return {
        kind: 'problem',
        element,
        code: 'E_UNRESOLVED_SUBJECT',
        message: `${element} is a Patient reference that does not resolve to a Patient of this import or an earlier one.`,
      }
    }
    const typed = (value as {type?: unknown}).type
    if (typed !== undefined && typed !== 'Patient') continue
    return {
      kind: 'problem',
      element,
      code: 'E_UNRESOLVED_SUBJECT',
      message: `${element} names its patient without a Patient/id reference (an identifier or a display only): medctl cannot tell whose record it is.`,
    }
  }
  return {kind: 'none'}
}
