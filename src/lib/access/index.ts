import {writeFileSync} from 'node:fs'
import type {Wallet} from 'ethers'
import {MedctlError, ExitCode} from '../cli/errors.js'
import {checkConsent, lookupRecipient, registryContract, type CheckResult, type Purpose} from '../consent/index.js'
import type {Session} from '../config/session.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import {EmbeddedStore, readAll} from '../ipfs/index.js'
import {decryptObject, decryptText, encryptText, unwrapKey, wrapKey} from '../vault/crypto.js'
import type {CustodianContext} from '../vault/custodian.js'
import {openDatabase} from '../vault/database.js'
import {mergeResources, subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import {parsePackage, type AccessPackage} from './package.js'

export type {AccessPackage} from './package.js'

export interface Grantee {
  address: string
  /** The grantee's age recipient, from the on-chain key directory or a local profile. */
  recipient: string
}

/** A grantee named by address or by local profile name. */
export async function resolveGrantee(session: Session, nameOrAddress: string, registry: ReturnType<typeof registryContract>): Promise<Grantee> {
  let address = nameOrAddress
  let localRecipient: string | undefined
  if (!/^0x[0-9a-fA-F]{40}$/.test(nameOrAddress)) {
    const profile = session.profiles.find(nameOrAddress)
    if (!profile) throw new MedctlError('E_GRANTEE_NOT_FOUND', `"${nameOrAddress}" is neither an address nor a profile.`, {exitCode: 2})
    const info = session.keystore.info(profile.identity)
    address = info.address
    localRecipient = info.recipient
  }
  const recipient = (await lookupRecipient(registry, address)) ?? localRecipient
  if (!recipient) {
    throw new MedctlError('E_NO_RECIPIENT', `${address} has published no age recipient in the key directory.`, {
      exitCode: 1,
      suggestions: ['The grantee publishes it with `medctl keys publish` on its own profile.'],
    })
  }
  return {address, recipient}
}

export interface ShareResult {
  packageCid: string
  subject: string
  grantee: string
  purpose: string
  classes: DataClass[]
  objects: number
  decision: CheckResult
  withheld: Array<{class: DataClass; decision: string; reason: string}>
}

export class AccessDenied extends MedctlError {
  constructor(
    readonly decision: CheckResult,
    readonly subject: string,
    message: string,
  ) {
    super('E_ACCESS_DENIED', message, {exitCode: ExitCode.DENIED, details: {decision: decision.decision, reason: decision.reason}})
  }
}

/**
 * The custodian releases a patient's object keys to a grantee — only for the classes the chain
 * says Permit for this purpose, now. Explicit classes must all be permitted; without them, each
 * class the patient has is checked and only the permitted ones are released.
 */
export async function sharePatient(
  session: Session,
  custodian: CustodianContext,
  options: {patient: string; grantee: string; purpose: Purpose; classes?: DataClass[]},
): Promise<ShareResult> {
  const registry = registryContract(session.registry(), await session.chainProvider())
  const subject = subjectForPatient(custodian, options.patient)
  const index = new RecordIndex(custodian.db, custodian.address)
  if (!index.hasSubject(subject)) throw new MedctlError('E_PATIENT_NOT_FOUND', 'No records for that patient.', {exitCode: 2})
  const grantee = await resolveGrantee(session, options.grantee, registry)
  const held = DATA_CLASSES.filter((c) => index.objects({subject, classes: [c]}).length > 0)
  const requested = options.classes ?? held
  const permitted: DataClass[] = []
  const withheld: ShareResult['withheld'] = []
  let decision: CheckResult = {decision: 'NoConsent', reason: 'NoConsent'}
  for (const dataClass of requested) {
    const result = await checkConsent(registry, {subject, grantee: grantee.address, purpose: options.purpose, classes: [dataClass]})
    if (result.decision === 'Permit') {
      permitted.push(dataClass)
      decision = result
    } else {
      withheld.push({class: dataClass, decision: result.decision, reason: result.reason})
      if (decision.decision !== 'Permit') decision = result
    }
  }
  if (permitted.length === 0 || (options.classes && withheld.length > 0)) {
    const first = withheld[0]
    throw new AccessDenied(
      decision.decision === 'Permit' ? {decision: first?.decision as CheckResult['decision'], reason: first?.reason ?? 'ClassNotCovered'} : decision,
      subject,
      `No key released: the chain says ${first?.decision ?? decision.decision} (${first?.reason ?? decision.reason}) for ${options.purpose}${first ? ` on ${first.class}` : ''}.`,
    )
  }
  const objects = index.objects({subject, classes: permitted.filter((c) => held.includes(c))})
  const entries: AccessPackage['objects'] = []
  for (const object of objects) {
    const envelope = index.envelope(object.cid, custodian.recipient)
    if (!envelope) throw new MedctlError('E_KEY_MISSING', `No key envelope for object ${object.cid}.`, {exitCode: 4})
    const objectKey = await unwrapKey(envelope, custodian.ageIdentity)
    entries.push({cid: object.cid, class: object.class, resources: object.resources, envelope: Buffer.from(await wrapKey(objectKey, [grantee.recipient])).toString('base64')}) 
  }
  const pkg: AccessPackage = {
    format: 'medctl-access/1',
    chainId: session.profile.chain.chainId,
    registry: session.registry(),
    custodian: custodian.address,
    grantee: grantee.address,
    subject,
    purpose: options.purpose,
    classes: permitted,
    ...(decision.consentId ? {consentId: decision.consentId} : {}),
    issuedAt: new Date().toISOString(),
    objects: entries,
  }
  const store = new EmbeddedStore(custodian.db)
  const {cid} = await store.add(await encryptText(JSON.stringify(pkg), grantee.recipient))
  await store.pin(cid)
  return {packageCid: cid, subject, grantee: grantee.address, purpose: options.purpose, classes: permitted, objects: entries.length, decision, withheld}
}

export interface FetchResult {
  packageCid: string
  subject: string
  classes: DataClass[]
  resources: number
  objects: number
  out: string
  decision: CheckResult
}

/**
 * The grantee opens an access package: it must still be Permit on chain for every class in it;
 * then each object key is unwrapped with the grantee's identity and the objects decrypted.
 */
export async function fetchPackage(session: Session, options: {cid: string; out: string}): Promise<FetchResult & {pkg: AccessPackage}> {
  const identity = await session.unlock()
  const store = new EmbeddedStore(openDatabase(session.paths))
  if (!(await store.has(options.cid))) throw new MedctlError('E_CID_NOT_FOUND', 'No such access package in the content store.', {exitCode: 2})
  let text: string
  try {
    text = await decryptText(await readAll(store.cat(options.cid)), identity.ageIdentity)
  } catch (error) {
    throw new MedctlError('E_NOT_FOR_YOU', 'This access package is not addressed to this profile.', {cause: error, exitCode: ExitCode.DENIED})
  }
  const pkg = parsePackage(text)
  const registry = registryContract(pkg.registry, await session.chainProvider())
  const decision = await checkConsent(registry, {subject: pkg.subject, grantee: (identity.wallet as Wallet).address, purpose: pkg.purpose as Purpose, classes: pkg.classes})
  if (decision.decision !== 'Permit') {
    throw new AccessDenied(decision, pkg.subject, `The grant is no longer valid: ${decision.decision} (${decision.reason}). Nothing was decrypted.`)
  }
  const parts: FhirResource[][] = []
  for (const object of pkg.objects) {
    const objectKey = await unwrapKey(Buffer.from(object.envelope, 'base64'), identity.ageIdentity)
    const plaintext = await decryptObject(await readAll(store.cat(object.cid)), objectKey)
    parts.push(Buffer.from(plaintext).toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as FhirResource))
  }
  const resources = mergeResources(parts)
  const bundle = {resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({...(resource.id ? {fullUrl: `${resource.resourceType}/${resource.id}`} : {}), resource}))}
  writeFileSync(options.out, `${JSON.stringify(bundle, null, 2)}\n`, {mode: 0o600})
  return {packageCid: options.cid, subject: pkg.subject, classes: pkg.classes, resources: resources.length, objects: pkg.objects.length, out: options.out, decision, pkg}
}
