import type {FhirResource} from './types.js'

interface Identifier {
  system?: string
  value?: string
  type?: {coding?: Array<{code?: string}>}
}

/** The key a patient is stored under: "system|value" of the MRN when present, else the first identifier. */
export function patientKeyOf(patient: FhirResource): string | undefined {
  const identifiers = ((patient.identifier as Identifier[] | undefined) ?? []).filter((i) => i.system && i.value)
  const mrn = identifiers.find((i) => i.type?.coding?.some((c) => c.code === 'MR'))
  const chosen = mrn ?? identifiers[0]
  return chosen ? `${chosen.system}|${chosen.value}` : undefined
}

/** Elements that point at the patient a clinical resource belongs to, in order of preference. */
const PATIENT_ELEMENTS = ['subject', 'patient', 'beneficiary', 'individual']

/** The id of the Patient this resource belongs to, from a `Patient/<id>` reference. */
export function patientRefOf(resource: FhirResource): string | undefined {
  for (const element of PATIENT_ELEMENTS) {
    const ref = (resource[element] as {reference?: string} | undefined)?.reference
    const match = ref ? /^(?:.*\/)?Patient\/([^/?#]+)$/.exec(ref) : null
    if (match) return match[1]
  }
  return undefined
}
