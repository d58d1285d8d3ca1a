import {MedctlError} from '../core/errors.js'
import {isDataClass, type DataClass} from '../fhir/data-classes.js'

/**
 * An access package: what the custodian releases to a grantee for one patient. It lists the
 * granted classes' objects with each object key wrapped to the grantee's age recipient, and the
 * whole package is itself age-encrypted to the grantee before it goes into the content store, so
 * only the grantee learns which objects (CIDs) and which subject it concerns.
 */
export interface AccessPackage {
  format: 'medctl-access/1'
  chainId: number
  registry: string
  custodian: string
  grantee: string
  subject: string
  purpose: string
  classes: DataClass[]
  consentId?: string
  issuedAt: string
  /**
   * The released objects. `kind: 'attachment'` marks a large file (`records attach`): age
   * ciphertext of the file itself, described by a DocumentReference in a record object of the
   * same package (its SHA-256 and size are checked when it is written); the others are NDJSON.
   */
  objects: Array<{cid: string; class: DataClass; resources: number; envelope: string; kind?: 'attachment'}>
}

export function parsePackage(text: string): AccessPackage {
  let value: AccessPackage
  try {
    value = JSON.parse(text) as AccessPackage
  } catch {
    throw new MedctlError('E_BAD_PACKAGE', 'The access package is not JSON.', {exitCode: 4})
  }
  if (
    value?.format !== 'medctl-access/1' ||
    !Array.isArray(value.objects) ||
    !value.objects.every((o) => o?.kind === undefined || o.kind === 'attachment') ||
    !/^0x[0-9a-f]{64}$/.test(value.subject ?? '') ||
    !value.classes?.every((c) => isDataClass(c))
  ) {
    throw new MedctlError('E_BAD_PACKAGE', 'This is not a medctl access package (format medctl-access/1).', {exitCode: 4})
  }
  return value
}
