import {createHash} from 'node:crypto'
import {rmSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import type {Wallet} from 'ethers'
import {writeStreamAtomic} from '../core/atomic.js'
import {MedctlError, ExitCode} from '../core/errors.js'
import {writePrivateFile} from '../config/keystore.js'
import {checkConsent, type CheckResult, type Purpose} from '../consent/index.js'
import {lookupRecipient, registryContract} from '../chain/registry.js'
import type {Session} from '../session/session.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import type {FhirResource} from '../fhir/index.js'
import {readAll, type ContentSource} from '../ipfs/index.js'
import {attachmentOf, type AttachmentInfo} from '../vault/attach.js'
import {decryptObject, decryptObjectStream, encryptText, unwrapKey, wrapKey} from '../vault/crypto.js'
import type {CustodianContext} from '../vault/custodian.js'
import {mergeResources, subjectForPatient} from '../vault/read.js'
import {BREAK_GLASS_CLASSES, emergencySummary, ipsBundle, SUMMARY_CLASSES, type EmergencySummary} from '../vault/summary.js'
import {RecordIndex} from '../vault/record-index.js'
import {auditAccess, type AccessAuditInput} from './audit.js'
import {checkOutputPath, openDelivery, packageReference, releasePackage, unsealPackage, type OpenedDelivery} from './delivery.js'
import {parsePackage, type AccessPackage} from './package.js'

export {
  checkOutputPath,
  openDelivery,
  packageReference,
  releasePackage,
  unsealPackage,
  type OpenedDelivery,
  type Released,
} from './delivery.js'
export {auditAccess, type AccessAuditInput} from './audit.js'

export type {AccessPackage} from './package.js'

export interface Grantee {
  address: string
  /** The grantee's age recipient, from the on-chain key directory or a local profile. */
  recipient: string
}

/** A grantee named by address or by local profile name. */
export async function resolveGrantee(
  session: Session,
  nameOrAddress: string,
  registry: ReturnType<typeof registryContract>,
): Promise<Grantee> {
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
  /** Of those objects, how many are attached files (`records attach`). */
  attachments: number
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
    if (result.decision === 'Permit' && result.breakGlass && !BREAK_GLASS_CLASSES.includes(dataClass)) {
      // Break-glass (no consent) opens the emergency summary's classes only.
      withheld.push({class: dataClass, decision: 'Deny', reason: 'NotInEmergencySummary'})
      if (decision.decision !== 'Permit') decision = {decision: 'Deny', reason: 'NotInEmergencySummary'}
      continue
    }
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
    const denied =
      decision.decision === 'Permit'
        ? {decision: first?.decision as CheckResult['decision'], reason: first?.reason ?? 'ClassNotCovered'}
        : decision
    await auditAccess(session, {
      type: 'consent-decision',
      outcome: 'denied',
      subject,
      grantee: grantee.address,
      purpose: options.purpose,
      classes: options.classes,
      reason: denied.reason,
      consentId: denied.consentId,
    })
    throw new AccessDenied(
      denied,
      subject,
      denied.reason === 'NotInEmergencySummary'
        ? `No key released: break-glass opens only the emergency summary's classes (${BREAK_GLASS_CLASSES.join(', ')}), not ${withheld.map((w) => w.class).join(', ')}.`
        : `No key released: the chain says ${first?.decision ?? decision.decision} (${first?.reason ?? decision.reason}) for ${options.purpose}${first ? ` on ${first.class}` : ''}.`,
    )
  }
  const objects = index.objects({subject, classes: permitted.filter((c) => held.includes(c)), attachments: 'include'})
  const entries: AccessPackage['objects'] = []
  for (const object of objects) {
    const envelope = index.envelope(object.cid, custodian.recipient)
    if (!envelope) throw new MedctlError('E_KEY_MISSING', `No key envelope for object ${object.cid}.`, {exitCode: 4})
    const objectKey = await unwrapKey(envelope, custodian.ageIdentity)
    entries.push({
      cid: object.cid,
      class: object.class,
      resources: object.resources,
      envelope: Buffer.from(await wrapKey(objectKey, [grantee.recipient])).toString('base64'),
      ...(object.attachment ? {kind: 'attachment' as const} : {}),
    })
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
  // A release under break-glass is flagged in the log (reason BreakGlass), for review.
  const released = await releasePackage(session, {
    sealed,
    stored: entries.map((e) => e.cid),
    out: options.out,
    audit: {
      subject,
      grantee: grantee.address,
      purpose: options.purpose,
      classes: permitted,
      consentId: decision.consentId,
      reason: decision.breakGlass ? 'BreakGlass' : 'Permit',
      ...(decision.breakGlass ? {detail: {breakGlass: true}} : {}),
    },
  })
  return {
    subject,
    grantee: grantee.address,
    purpose: options.purpose,
    classes: permitted,
    objects: entries.length,
    attachments: entries.filter((e) => e.kind === 'attachment').length,
    decision,
    withheld,
    ...released,
  }
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
  /** Attached files (`records attach`) written next to the Bundle, each SHA-256 checked. */
  attachments: FetchedAttachment[]
}

export interface FetchedAttachment {
  documentReference: string
  class: DataClass
  cid: string
  file: string
  bytes: number
  sha256: string
  contentType: string
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
export async function fetchPackage(
  session: Session,
  options: {
    ref?: string
    /** @deprecated use ref */ cid?: string
    out: string
    /** Where attached files go (default: the Bundle's folder). */ attachmentsDir?: string
  },
): Promise<FetchResult & {pkg: AccessPackage}> {
  const ref = options.ref ?? options.cid ?? ''
  packageReference(ref)
  checkOutputPath(options.out)
  const attachmentsDir = options.attachmentsDir ?? dirname(resolve(options.out))
  if (!isDirectory(attachmentsDir))
    throw new MedctlError('E_BAD_OUT', `Cannot write attachments into ${attachmentsDir}: it is not a folder.`, {exitCode: ExitCode.USAGE})
  const grantee = session.identity().address
  const opened = await openPackageSource(session, ref, grantee)
  try {
    return await openPackage(session, opened.source, {
      packageCid: opened.packageCid,
      kind: opened.kind,
      out: options.out,
      attachmentsDir,
      grantee,
    })
  } finally {
    opened.close()
  }
}

/** The package's blocks (see openDelivery); a damaged CAR file is audited as a failed fetch. */
async function openPackageSource(session: Session, ref: string, grantee: string): Promise<OpenedDelivery> {
  try {
    return await openDelivery(session, ref, 'medctl access package')
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === 'E_CAR_CORRUPT' || code === 'E_BAD_PACKAGE')
      await auditAccess(session, {type: 'fetch', outcome: 'failure', grantee, reason: code})
    throw error
  }
}

interface DecryptedPackage {
  pkg: AccessPackage
  decision: CheckResult
  resources: FhirResource[]
  /** The classes whose objects were decrypted. */
  classes: DataClass[]
  objects: number
  audited: Omit<AccessAuditInput, 'outcome'>
}

/**
 * Decrypts the package with this profile's age identity, checks it names this profile's own
 * registry and chain, asks that chain whether the grant is still Permit for every class in it,
 * then decrypts the objects (only those of `only`, when given) in memory. Denials are audited.
 */
async function decryptPackage(
  session: Session,
  source: ContentSource,
  options: {packageCid: string; grantee: string; only?: readonly DataClass[]},
): Promise<DecryptedPackage> {
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
    await auditAccess(session, {
      type: 'fetch',
      outcome: 'failure',
      grantee,
      subject: pkg.subject,
      reason: 'E_OTHER_NETWORK',
      cids: [packageCid],
      custodian: pkg.custodian,
    })
    throw new MedctlError(
      'E_OTHER_NETWORK',
      `This package was issued under registry ${pkg.registry} on chain ${pkg.chainId}; this profile uses ${ownRegistry} on chain ${session.profile.chain.chainId}.`,
      {
        exitCode: ExitCode.VERIFY_FAILED,
        suggestions: ['Fetch with the profile of the network the custodian shares on (--profile).'],
      },
    )
  }
  const registry = registryContract(ownRegistry, await session.chainProvider())
  const decision = await checkConsent(registry, {
    subject: pkg.subject,
    grantee: (identity.wallet as Wallet).address,
    purpose: pkg.purpose as Purpose,
    classes: pkg.classes,
  })
  const objects = pkg.objects.filter((o) => !options.only || options.only.includes(o.class))
  const classes = options.only ? pkg.classes.filter((c) => options.only?.includes(c)) : pkg.classes
  const audited: Omit<AccessAuditInput, 'outcome'> = {
    type: 'fetch',
    grantee,
    subject: pkg.subject,
    purpose: pkg.purpose,
    classes,
    cids: [packageCid, ...objects.map((o) => o.cid)],
    custodian: pkg.custodian,
  }
  if (decision.decision !== 'Permit') {
    await auditAccess(session, {...audited, outcome: 'denied', reason: decision.reason, consentId: decision.consentId})
    throw new AccessDenied(
      decision,
      pkg.subject,
      `The grant is no longer valid: ${decision.decision} (${decision.reason}). Nothing was decrypted.`,
    )
  }
  const parts: FhirResource[][] = []
  for (const object of objects) {
    if (!pkg.classes.includes(object.class))
      throw new MedctlError('E_BAD_PACKAGE', 'The package names an object outside its classes.', {exitCode: ExitCode.VERIFY_FAILED})
    if (object.kind === 'attachment') continue
    const objectKey = await unwrapKey(Buffer.from(object.envelope, 'base64'), identity.ageIdentity)
    const plaintext = await decryptObject(await readAll(source.cat(object.cid)), objectKey)
    parts.push(
      Buffer.from(plaintext)
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as FhirResource),
    )
  }
  return {
    pkg,
    decision,
    resources: mergeResources(parts),
    classes,
    objects: objects.length,
    audited: {...audited, consentId: decision.consentId, ...(decision.breakGlass ? {detail: {breakGlass: true}} : {})},
  }
}

async function openPackage(
  session: Session,
  source: ContentSource,
  options: {packageCid: string; kind: FetchResult['source']; out: string; attachmentsDir: string; grantee: string},
): Promise<FetchResult & {pkg: AccessPackage}> {
  const {packageCid} = options
  const {pkg, decision, resources, audited} = await decryptPackage(session, source, options)
  const identity = await session.unlock()
  const reason = decision.breakGlass ? 'BreakGlass' : 'Permit'
  const bundle = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: resources.map((resource) => ({...(resource.id ? {fullUrl: `${resource.resourceType}/${resource.id}`} : {}), resource})),
  }
  const attachmentObjects = pkg.objects.filter((o) => o.kind === 'attachment')
  const described = new Map<string, AttachmentInfo>()
  for (const resource of resources) {
    const info = attachmentOf(resource)
    if (info) described.set(info.cid, info)
  }
  for (const object of attachmentObjects) {
    if (!described.has(object.cid))
      throw new MedctlError('E_BAD_PACKAGE', `The package holds an attachment (${object.cid}) that no DocumentReference in it describes.`, {
        exitCode: ExitCode.VERIFY_FAILED,
      })
  }
  // Write-ahead: the fetch is in the log before any plaintext is on disk.
  await auditAccess(session, {...audited, outcome: 'success', reason, phase: 'intent'})
  const fetched: FetchedAttachment[] = []
  try {
    const names = new Set<string>()
    for (const object of attachmentObjects) {
      const info = described.get(object.cid) as AttachmentInfo
      const objectKey = await unwrapKey(Buffer.from(object.envelope, 'base64'), identity.ageIdentity)
      const file = join(options.attachmentsDir, attachmentFileName(info, names))
      fetched.push({
        documentReference: info.documentReference,
        class: object.class,
        cid: object.cid,
        file,
        bytes: await writeAttachment(source, object.cid, objectKey, info, file),
        sha256: info.sha256,
        contentType: info.contentType,
      })
    }
    writePrivateFile(options.out, `${JSON.stringify(bundle, null, 2)}\n`)
  } catch (error) {
    // All or nothing: the attachments already written by this fetch are removed.
    for (const done of fetched) rmSync(done.file, {force: true})
    await auditAccess(session, {
      ...audited,
      outcome: 'failure',
      reason: (error as {code?: string}).code ?? 'E_UNEXPECTED',
      phase: 'written',
    })
    throw error
  }
  await auditAccess(session, {...audited, outcome: 'success', reason, phase: 'written'})
  return {
    packageCid,
    source: options.kind,
    subject: pkg.subject,
    custodian: pkg.custodian,
    classes: pkg.classes,
    resources: resources.length,
    objects: pkg.objects.length,
    out: options.out,
    decision,
    attachments: fetched,
    pkg,
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * The name an attached file is written under: its title when that is a plain file name (letters,
 * digits, `._ -`, not starting with a dot), else the DocumentReference id; never a path, and each
 * name once per fetch (a repeat is prefixed with the DocumentReference id).
 */
export function attachmentFileName(info: Pick<AttachmentInfo, 'documentReference' | 'title'>, used: Set<string>): string {
  const id = info.documentReference.replace(/[^A-Za-z0-9.-]/g, '_')
  const title = info.title && /^[A-Za-z0-9_][A-Za-z0-9._ -]{0,199}$/.test(info.title) ? info.title : undefined
  let name = title ?? `${id}.bin`
  if (used.has(name)) name = `${id}-${name}`
  used.add(name)
  return name
}

/**
 * Streams one attachment out: blocks (each checked against its CID) -> age decryption (64 KiB
 * chunks) -> SHA-256 -> a temp file renamed into place only when the SHA-256 and the size match
 * the DocumentReference's (E_ATTACHMENT_MISMATCH, exit 4, and nothing written otherwise).
 */
export async function writeAttachment(
  source: ContentSource,
  cid: string,
  objectKey: string,
  info: AttachmentInfo,
  file: string,
): Promise<number> {
  await writeStreamAtomic(file, async (write) => {
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of decryptObjectStream(source.cat(cid), objectKey)) {
      hash.update(chunk)
      bytes += chunk.length
      write(chunk)
    }
    const sha256 = hash.digest('hex')
    if (sha256 !== info.sha256 || bytes !== info.size) {
      throw new MedctlError(
        'E_ATTACHMENT_MISMATCH',
        `The attachment ${info.documentReference} decrypts to content that does not match its DocumentReference (SHA-256 or size); nothing was written.`,
        {
          exitCode: ExitCode.VERIFY_FAILED,
          details: {documentReference: info.documentReference, cid},
        },
      )
    }
  })
  return info.size
}

export interface PackageSummaryResult {
  subject: string
  summary: EmergencySummary
  /** The IPS document Bundle built from the same resources. */
  ips: FhirResource
  package: {cid: string; source: FetchResult['source']; custodian: string; purpose: string; classes: DataClass[]; breakGlass: boolean}
  decision: CheckResult
}

/**
 * The emergency summary from an access package, in the grantee's own home (a clinician under
 * break-glass): the same checks as `records fetch` against this profile's own chain — Permit now,
 * so nothing after the window closes — then only the summary's classes are decrypted, in memory,
 * and only the summary leaves the service. Audited as a fetch of the emergency summary (flagged
 * BreakGlass when the window is what permits it).
 */
export async function summarizePackage(session: Session, options: {ref: string}): Promise<PackageSummaryResult> {
  packageReference(options.ref)
  const grantee = session.identity().address
  const opened = await openPackageSource(session, options.ref, grantee)
  const {packageCid, kind} = opened
  try {
    const {pkg, decision, resources, classes, audited} = await decryptPackage(session, opened.source, {
      packageCid,
      grantee,
      only: SUMMARY_CLASSES,
    })
    const summary = emergencySummary(resources)
    const ips = ipsBundle(summary, resources)
    await auditAccess(session, {
      ...audited,
      outcome: 'success',
      reason: decision.breakGlass ? 'BreakGlass' : 'Permit',
      detail: {...audited.detail, what: 'emergency-summary'},
    })
    return {
      subject: pkg.subject,
      summary,
      ips,
      package: {
        cid: packageCid,
        source: kind,
        custodian: pkg.custodian,
        purpose: pkg.purpose,
        classes,
        breakGlass: Boolean(decision.breakGlass),
      },
      decision,
    }
  } finally {
    opened.close()
  }
}
