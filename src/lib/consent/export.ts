import type {Contract} from 'ethers'
import type {FhirResource} from '../fhir/index.js'
import type {CustodianContext} from '../vault/custodian.js'
import {listConsents, type ConsentRecord, type ConsentStatus} from './list.js'
import {CONSENT_ID_SYSTEM, consentResource, readTerms, termsHashOf} from './terms.js'

export const CONSENT_STATUS_SYSTEM = 'https://medctl.dev/fhir/CodeSystem/consent-status'

export interface ExportedConsent {
  resource: FhirResource
  status: ConsentStatus
  /** Whether the stored terms were found and hash to the terms hash on chain. */
  terms: 'verified' | 'missing' | 'mismatch'
}

/** FHIR status from the chain's: only a consent in force (or waiting for its start) is active. */
function fhirStatus(status: ConsentStatus): 'active' | 'inactive' {
  return status === 'active' || status === 'pending' ? 'active' : 'inactive'
}

/**
 * Every consent the chain holds (optionally for one subject or grantee) as a FHIR R4 Consent. The
 * resource is the stored terms when this vault has them (they name the patient by identifier),
 * else one rebuilt from the chain naming the patient by pseudonym. Its status is the chain's now;
 * the consent id is its id and identifier, and medctl's finer status is a meta tag.
 */
export async function* exportConsents(registry: Contract, custodian: CustodianContext, filter: {subject?: string; grantee?: string; now: number; logRange?: number}): AsyncGenerator<ExportedConsent> {
  const records = await listConsents(registry, filter)
  const terms = new Map<string, {salt: string; consent: FhirResource}>()
  for await (const t of readTerms(custodian.db, custodian.address, custodian.ageIdentity, filter.subject ? {subject: filter.subject} : {})) terms.set(t.consentId, t)
  for (const record of records) yield toExported(record, terms.get(record.consentId.toLowerCase()))
}

function toExported(record: ConsentRecord, stored: {salt: string; consent: FhirResource} | undefined): ExportedConsent {
  let base: FhirResource
  let terms: ExportedConsent['terms']
  if (stored && termsHashOf(Buffer.from(stored.salt, 'hex'), stored.consent) === record.termsHash.toLowerCase()) {
    base = stored.consent
    terms = 'verified'
  } else {
    base = consentResource({patient: {subject: record.subject}, grantee: record.grantee, purposes: record.purposes, classes: record.classes, notBefore: record.notBefore, notAfter: record.notAfter})
    terms = stored ? 'mismatch' : 'missing'
  }
  const id = record.consentId.toLowerCase()
  const {resourceType, ...rest} = base
  return {
    status: record.status,
    terms,
    resource: {
      resourceType,
      id: id.slice(2),
      meta: {tag: [{system: CONSENT_STATUS_SYSTEM, code: record.status}]},
      identifier: [{system: CONSENT_ID_SYSTEM, value: id}],
      ...rest,
      status: fhirStatus(record.status),
    },
  }
}
