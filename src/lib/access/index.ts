import type {Wallet} from 'ethers'
import {MedctlError, ExitCode} from '../core/errors.js'
import {writePrivateFile} from '../config/keystore.js'
import {checkConsent, lookupRecipient, registryContract, type CheckResult, type Purpose} from '../consent/index.js'
import type {Session} from '../session/session.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import {readAll, type ContentSource} from '../ipfs/index.js'
import {decryptObject, encryptText, unwrapKey, wrapKey} from '../vault/crypto.js'
import type {CustodianContext} from '../vault/custodian.js'
import {mergeResources, subjectForPatient} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import {auditAccess, type AccessAuditInput} from './audit.js'
import {parsePackage, type AccessPackage} from './package.js'
import {checkOutputPath, openDelivery, packageReference, releasePackage, unsealPackage, type OpenedDelivery} from './delivery.js'

export {checkOutputPath, openDelivery, packageReference, releasePackage, unsealPackage, type OpenedDelivery, type Released} from './delivery.js'

export type {AccessPackage} from './package.js'
export {auditAccess, type AccessAuditInput} from './audit.js'

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
  /** Where the package went: the profile's store (`embedded` or `kubo`) or a CAR file. */
  delivery: 'embedded' | 'kubo' | 'car'
  /** With --out: the CAR file written (the package and every object it names). */
  car?: {out: string; blocks: number; bytes: number}
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
 *
 * The package goes to the profile's content store, or with `out` into a CARv1 file holding the
 * package and every block of every object it names (roots = the package CID), for a grantee in
 * another home. Audited write-ahead: the key release is in the log before the package leaves;
 * a denial is logged too.
 */
export async function sharePatient(
  session: Session,
  custodian: CustodianContext,
  options: {patient: string; grantee: string; purpose: Purpose; classes?: DataClass[]; out?: string},
): Promise<ShareResult> {
  if (options.out) checkOutputPath(options.out)
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
    const denied = decision.decision === 'Permit' ? {decision: first?.decision as CheckResult['decision'], reason: first?.reason ?? 'ClassNotCovered'} : decision
    await auditAccess(session, {type: 'consent-decision', outcome: 'denied', subject, grantee: grantee.address, purpose: options.purpose, classes: options.classes, reason: denied.reason, consentId: denied.consentId})
    throw new AccessDenied(
      denied,
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
  const sealed = await encryptText(JSON.stringify(pkg), grantee.recipient)
  const released = await releasePackage(session, {
    sealed,
    stored: entries.map((e) => e.cid),
    out: options.out,
    audit: {subject, grantee: grantee.address, purpose: options.purpose, classes: permitted, consentId: decision.consentId},
  })
  return {subject, grantee: grantee.address, purpose: options.purpose, classes: permitted, objects: entries.length, decision, withheld, ...released}
}

export interface FetchResult {
  packageCid: string
  /** Where the package was read from: a CAR file (every block checked) or the profile's store. */
  source: 'car' | 'embedded' | 'kubo'
  subject: string
  custodian: string
  classes: DataClass[]
  resources: number
  objects: number
  out: string
  decision: CheckResult
}

/**
 * The grantee opens an access package, from a CAR file or by CID through its own content store.
 * A CAR file is checked block by block against its CIDs before anything in it is used. The grant
 * must still be Permit — asked of the registry in the grantee's own profile, never the one the
 * package names — for every class in it; then each object key is unwrapped and the objects are
 * decrypted in memory. Audited write-ahead: the fetch is logged before the plaintext is written,
 * and its outcome after; a denial or a damaged file is logged too. Nothing is written unless all
 * of it checks out.
 */
export async function fetchPackage(session: Session, options: {ref?: string; /** @deprecated use ref */ cid?: string; out: string}): Promise<FetchResult & {pkg: AccessPackage}> {
  packageReference(options.ref ?? options.cid ?? '')
  checkOutputPath(options.out)
  const grantee = session.identity().address
  let opened: OpenedDelivery
  try {
    opened = await openDelivery(session, options.ref ?? options.cid ?? '', 'medctl access package')
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === 'E_CAR_CORRUPT' || code === 'E_BAD_PACKAGE') await auditAccess(session, {type: 'fetch', outcome: 'failure', grantee, reason: code})
    throw error
  }
  try {
    return await openPackage(session, opened.source, {packageCid: opened.packageCid, kind: opened.kind, out: options.out, grantee})
  } finally {
    opened.close()
  }
}

async function openPackage(
  session: Session,
  source: ContentSource,
  options: {packageCid: string; kind: FetchResult['source']; out: string; grantee: string},
): Promise<FetchResult & {pkg: AccessPackage}> {
  const {packageCid, grantee} = options
  const identity = await session.unlock()
  const sealed = await readAll(source.cat(packageCid))
  let text: string
  try {
    text = await unsealPackage(sealed, identity.ageIdentity, 'access package')
  } catch (error) {
    await auditAccess(session, {type: 'fetch', outcome: 'denied', grantee, reason: 'E_NOT_FOR_YOU', cids: [packageCid]})
    throw error
  }
  const pkg = parsePackage(text)
  // The verifier's own roots: the registry and chain come from this profile, not from the package.
  const ownRegistry = session.registry()
  if (pkg.registry.toLowerCase() !== ownRegistry.toLowerCase() || pkg.chainId !== session.profile.chain.chainId) {
    await auditAccess(session, {type: 'fetch', outcome: 'failure', grantee, subject: pkg.subject, reason: 'E_OTHER_NETWORK', cids: [packageCid], custodian: pkg.custodian})
    throw new MedctlError('E_OTHER_NETWORK', `This package was issued under registry ${pkg.registry} on chain ${pkg.chainId}; this profile uses ${ownRegistry} on chain ${session.profile.chain.chainId}.`, {
      exitCode: ExitCode.VERIFY_FAILED,
      suggestions: ['Fetch with the profile of the network the custodian shares on (--profile).'],
    })
  }
  const registry = registryContract(ownRegistry, await session.chainProvider())
  const decision = await checkConsent(registry, {subject: pkg.subject, grantee: (identity.wallet as Wallet).address, purpose: pkg.purpose as Purpose, classes: pkg.classes})
  const audited: Omit<AccessAuditInput, 'outcome'> = {type: 'fetch', grantee, subject: pkg.subject, purpose: pkg.purpose, classes: pkg.classes, cids: [packageCid, ...pkg.objects.map((o) => o.cid)], custodian: pkg.custodian}
  if (decision.decision !== 'Permit') {
    await auditAccess(session, {...audited, outcome: 'denied', reason: decision.reason, consentId: decision.consentId})
    throw new AccessDenied(decision, pkg.subject, `The grant is no longer valid: ${decision.decision} (${decision.reason}). Nothing was decrypted.`)
  }
  const parts: FhirResource[][] = []
  for (const object of pkg.objects) {
    if (!pkg.classes.includes(object.class)) throw new MedctlError('E_BAD_PACKAGE', 'The package names an object outside its classes.', {exitCode: ExitCode.VERIFY_FAILED})
    const objectKey = await unwrapKey(Buffer.from(object.envelope, 'base64'), identity.ageIdentity)
    const plaintext = await decryptObject(await readAll(source.cat(object.cid)), objectKey)
    parts.push(Buffer.from(plaintext).toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as FhirResource))
  }
  const resources = mergeResources(parts)
  const bundle = {resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({...(resource.id ? {fullUrl: `${resource.resourceType}/${resource.id}`} : {}), resource}))}
  // Write-ahead: the fetch is in the log before any plaintext is on disk.
  await auditAccess(session, {...audited, outcome: 'success', reason: 'Permit', consentId: decision.consentId, phase: 'intent'})
  try {
    writePrivateFile(options.out, `${JSON.stringify(bundle, null, 2)}\n`)
  } catch (error) {
    await auditAccess(session, {...audited, outcome: 'failure', reason: (error as {code?: string}).code ?? 'E_UNEXPECTED', consentId: decision.consentId, phase: 'written'})
    throw error
  }
  await auditAccess(session, {...audited, outcome: 'success', reason: 'Permit', consentId: decision.consentId, phase: 'written'})
  return {packageCid, source: options.kind, subject: pkg.subject, custodian: pkg.custodian, classes: pkg.classes, resources: resources.length, objects: pkg.objects.length, out: options.out, decision, pkg}
}
