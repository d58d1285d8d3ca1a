import {MedctlError} from '../core/errors.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import type {ContentSource} from '../ipfs/index.js'
import {decryptObject, decryptText, unwrapKey} from './crypto.js'
import type {CustodianContext} from './custodian.js'
import {subjectOf} from './pseudonym.js'
import {RecordIndex, type ObjectRow} from './record-index.js'

export interface PatientListing {
  subject: string
  identifier?: string
  resources: number
  classes: DataClass[]
  objects: Array<{cid: string; class: DataClass; resources: number}>
}

export interface ListResult {
  patients: PatientListing[]
  referenceObjects: number
}

/** Parses `--patient system|value` into the identifier key the pseudonym is computed over. */
export function patientIdentifierKey(patient: string): string {
  const bar = patient.indexOf('|')
  if (bar <= 0 || bar === patient.length - 1) {
    throw new MedctlError('E_BAD_PATIENT', 'Name a patient as system|value, for example "http://hospital.example/mrn|12345".', {
      exitCode: 2,
    })
  }
  return patient
}

/**
 * The subject pseudonym of a patient. With the custodian's database at hand (every command about a
 * patient), an erased patient is E_ERASED (exit 2): nothing about them may be read, shared or granted.
 */
export function subjectForPatient(
  custodian: Pick<CustodianContext, 'pseudonymKey'> & Partial<Pick<CustodianContext, 'db' | 'address'>>,
  patient: string,
): string {
  const subject = subjectOf(custodian.pseudonymKey, patientIdentifierKey(patient))
  if (custodian.db && custodian.address) {
    const erasedAt = new RecordIndex(custodian.db, custodian.address).erasedAt(subject)
    if (erasedAt)
      throw new MedctlError(
        'E_ERASED',
        `That patient's records were erased (${erasedAt}): nothing about them can be read, shared or granted.`,
        {exitCode: 2, details: {subject, erasedAt}},
      )
  }
  return subject
}

export async function listRecords(
  custodian: CustodianContext,
  options: {patient?: string; showIdentifiers?: boolean},
): Promise<ListResult> {
  const index = new RecordIndex(custodian.db, custodian.address)
  const wanted = options.patient ? subjectForPatient(custodian, options.patient) : undefined
  const subjects = index.subjects().filter((s) => !wanted || s.subject === wanted)
  if (wanted && subjects.length === 0) {
    throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient.', {
      exitCode: 2,
      suggestions: ['Check the system|value, or run `medctl records list`.'],
    })
  }
  const counts = index.resourceCounts()
  const objects = index.objects()
  const patients: PatientListing[] = []
  for (const s of subjects) {
    const mine = objects.filter((o) => o.subject === s.subject)
    const resources = counts.filter((c) => c.subject === s.subject).reduce((sum, c) => sum + c.resources, 0)
    const classes = DATA_CLASSES.filter((c) => mine.some((o) => o.class === c))
    patients.push({
      subject: s.subject,
      ...(options.showIdentifiers ? {identifier: await decryptText(s.identifierEnc, custodian.ageIdentity)} : {}),
      resources,
      classes,
      objects: mine.map((o) => ({cid: o.cid, class: o.class, resources: o.resources})),
    })
  }
  return {patients, referenceObjects: objects.filter((o) => o.subject === null).length}
}

/** Decrypts one stored object with the object key unwrapped by `identity` from the envelope. */
export async function readObject(
  store: Pick<ContentSource, 'cat'>,
  object: Pick<ObjectRow, 'cid'>,
  envelope: Uint8Array,
  identity: string,
): Promise<FhirResource[]> {
  const objectIdentity = await unwrapKey(envelope, identity)
  const chunks: Uint8Array[] = []
  for await (const chunk of store.cat(object.cid)) chunks.push(chunk)
  const plaintext = await decryptObject(Buffer.concat(chunks), objectIdentity)
  return Buffer.from(plaintext)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as FhirResource)
}

/** Merges object versions: the latest copy of each resource (by type/id) wins; order is stable. */
export function mergeResources(parts: FhirResource[][]): FhirResource[] {
  const byKey = new Map<string, FhirResource>()
  for (const part of parts)
    for (const resource of part) byKey.set(resource.id ? `${resource.resourceType}/${resource.id}` : JSON.stringify(resource), resource)
  return [...byKey.values()]
}

export interface ShowResult {
  subject: string
  classes: DataClass[]
  resources: number
  bundle: {resourceType: 'Bundle'; type: 'collection'; entry: Array<{fullUrl?: string; resource: FhirResource}>}
}

/**
 * The custodian decrypts a patient's record (the chosen classes) into a FHIR collection Bundle,
 * reading the objects from `store` (the profile's content store, from `openContentStore`).
 */
export async function showRecords(
  custodian: CustodianContext,
  options: {patient: string; classes?: DataClass[]},
  store: Pick<ContentSource, 'cat'>,
): Promise<ShowResult> {
  const index = new RecordIndex(custodian.db, custodian.address)
  const subject = subjectForPatient(custodian, options.patient)
  if (!index.hasSubject(subject)) throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient.', {exitCode: 2})
  const objects = index.objects({subject, classes: options.classes})
  const parts: FhirResource[][] = []
  for (const object of objects) {
    const envelope = index.envelope(object.cid, custodian.recipient)
    if (!envelope) throw new MedctlError('E_KEY_MISSING', `No key envelope for object ${object.cid}.`, {exitCode: 4})
    parts.push(await readObject(store, object, envelope, custodian.ageIdentity))
  }
  const resources = mergeResources(parts)
  return {
    subject,
    classes: DATA_CLASSES.filter((c) => objects.some((o) => o.class === c)),
    resources: resources.length,
    bundle: {
      resourceType: 'Bundle',
      type: 'collection',
      entry: resources.map((resource) => ({...(resource.id ? {fullUrl: `${resource.resourceType}/${resource.id}`} : {}), resource})),
    },
  }
}
