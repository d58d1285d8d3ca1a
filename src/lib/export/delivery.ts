/**
 * A research export delivered to the lab (DESIGN §8b): the manifest and every file it lists, each
 * age-encrypted to the lab's recipient (from the on-chain key directory, as `records share` finds a
 * grantee's), listed in a package sealed to the same recipient, sent as one CARv1 file or through
 * the custodian's content store — the same sealed-delivery path as an access package. The lab opens
 * it in its own home with its own identity and checks it exactly as an export directory: the
 * manifest's signature against its own registry's custodian, every file's SHA-256.
 */
import {existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {CID} from 'multiformats/cid'
import {
  auditAccess,
  openDelivery,
  releasePackage,
  unsealPackage,
  type AccessAuditInput,
  type Grantee,
  type OpenedDelivery,
  type Released,
} from '../access/index.js'
import {ExitCode, MedctlError, usageError} from '../core/errors.js'
import {prepareFile, readAll} from '../ipfs/index.js'
import type {Session} from '../session/session.js'
import {decryptObject, encryptObject, encryptText} from '../vault/crypto.js'
import {MANIFEST_FILE, insideDir, verifyExport, type ExportVerifierRoots, type ExportVerifyReport} from './verify.js'

export const EXPORT_DELIVERY_FORMAT = 'medctl-export-delivery/1'

/** The sealed package of a delivered export: who sent it for whom, and where each file is. */
export interface ExportDeliveryPackage {
  format: typeof EXPORT_DELIVERY_FORMAT
  chainId: number
  registry: string
  custodian: string
  recipient: string
  issuedAt: string
  /** manifest.json and every file it lists, each age-encrypted to the recipient, by CID. */
  files: Array<{path: string; cid: string; size: number}>
}

export interface ExportDelivered extends Released {
  /** The lab's address (the researcher the cohort's consents name). */
  to: string
  files: number
}

/**
 * Encrypts the export in `dir` (manifest.json and the files it lists) to the lab's recipient and
 * releases it: into the CAR file `out`, or through the profile's content store. Audited as a key
 * release to the lab (purpose HRESCH) before it leaves.
 */
export async function deliverExport(
  session: Session,
  options: {dir: string; files: string[]; to: Grantee; custodian: string; classes: readonly string[]; out?: string},
): Promise<ExportDelivered> {
  const attached: Array<{bytes: Uint8Array; file: Awaited<ReturnType<typeof prepareFile>>}> = []
  const listed: ExportDeliveryPackage['files'] = []
  for (const path of [MANIFEST_FILE, ...options.files.filter((f) => f !== MANIFEST_FILE)]) {
    const full = insideDir(resolve(options.dir), path)
    if (!full)
      throw new MedctlError('E_MANIFEST_PATH', `The export lists a path outside its directory: ${JSON.stringify(path.slice(0, 80))}.`, {
        exitCode: ExitCode.VERIFY_FAILED,
      })
    const plaintext = await readFile(full)
    const bytes = await encryptObject(plaintext, options.to.recipient)
    const file = await prepareFile(bytes)
    attached.push({bytes, file})
    listed.push({path, cid: file.cid, size: plaintext.length})
  }
  const pkg: ExportDeliveryPackage = {
    format: EXPORT_DELIVERY_FORMAT,
    chainId: session.profile.chain.chainId,
    registry: session.registry(),
    custodian: options.custodian,
    recipient: options.to.address,
    issuedAt: new Date().toISOString(),
    files: listed,
  }
  const released = await releasePackage(session, {
    sealed: await encryptText(JSON.stringify(pkg), options.to.recipient),
    attached,
    out: options.out,
    audit: {grantee: options.to.address, purpose: 'HRESCH', classes: options.classes, cids: listed.map((f) => f.cid)},
  })
  return {...released, to: options.to.address, files: listed.length}
}

function parseDeliveryPackage(text: string): ExportDeliveryPackage {
  const bad = (why: string) =>
    new MedctlError('E_BAD_PACKAGE', `This is not a delivered medctl research export: ${why}.`, {exitCode: ExitCode.VERIFY_FAILED})
  let value: ExportDeliveryPackage
  try {
    value = JSON.parse(text) as ExportDeliveryPackage
  } catch {
    throw bad('the package is not JSON')
  }
  if (value?.format !== EXPORT_DELIVERY_FORMAT) throw bad(`its format is not ${EXPORT_DELIVERY_FORMAT}`)
  if (!Array.isArray(value.files) || value.files.length === 0) throw bad('it lists no file')
  const seen = new Set<string>()
  for (const f of value.files) {
    if (typeof f?.path !== 'string' || typeof f.cid !== 'string' || seen.has(f.path)) throw bad('a file entry is malformed or repeated')
    try {
      CID.parse(f.cid)
    } catch {
      throw bad('a file entry has no valid CID')
    }
    seen.add(f.path)
  }
  if (!seen.has(MANIFEST_FILE)) throw bad('it holds no manifest.json')
  return value
}

/** Where verified files go: a directory that does not exist yet, or an empty one, in an existing folder. */
function checkOutDir(out: string): void {
  const full = resolve(out)
  let ok: boolean
  try {
    ok = statSync(dirname(full)).isDirectory() && (!existsSync(full) || (statSync(full).isDirectory() && readdirSync(full).length === 0))
  } catch {
    ok = false
  }
  if (!ok) throw usageError('E_BAD_OUT', `Cannot write the export to ${out}: it must be a new or empty directory in an existing folder.`)
}

/**
 * The lab receives a delivered export (a CAR file or a CID through its own store) in its own home:
 * the package is opened with its own age identity, every file decrypted into a private staging
 * directory (names checked to stay inside it), and the whole checked with `verifyExport` against
 * the lab's own roots. Only an export that verifies is moved to `out`; otherwise nothing is left.
 * The receipt is in the lab's own audit log, like a fetch: refused, damaged or failed with its code;
 * kept, before (intent) and after (written) the files reach `out`.
 */
export async function receiveExport(
  session: Session,
  options: {ref: string; out?: string; roots: ExportVerifierRoots},
): Promise<ExportVerifyReport> {
  if (options.out) checkOutDir(options.out)
  const identity = await session.unlock()
  const audited: Omit<AccessAuditInput, 'outcome'> = {type: 'fetch', grantee: identity.address, purpose: 'HRESCH'}
  let opened: OpenedDelivery
  try {
    // Damaged blocks are set aside rather than refused at once, so the file they belong to can be named.
    opened = await openDelivery(session, options.ref, 'delivered research export', {damaged: 'collect'})
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === 'E_CAR_CORRUPT' || code === 'E_BAD_PACKAGE') await auditAccess(session, {...audited, outcome: 'failure', reason: code})
    throw error
  }
  audited.cids = [opened.packageCid]
  const staging = mkdtempSync(options.out ? join(dirname(resolve(options.out)), '.medctl-receive-') : join(tmpdir(), 'medctl-receive-'))
  let keep = false
  try {
    const report = await unpackAndVerify(opened, staging, identity.ageIdentity, options.roots, audited)
    const out = report.ok && options.out ? resolve(options.out) : null
    if (!report.ok) await auditAccess(session, {...audited, outcome: 'failure', reason: report.code})
    else if (!out) await auditAccess(session, {...audited, outcome: 'success', reason: 'verified'})
    else {
      // Write-ahead: the receipt is in the log before the files are where the lab reads them.
      await auditAccess(session, {...audited, outcome: 'success', reason: 'verified', phase: 'intent'})
      if (existsSync(out)) rmdirSync(out)
      renameSync(staging, out)
      keep = true
      await auditAccess(session, {...audited, outcome: 'success', reason: 'verified', phase: 'written'})
    }
    report.dir = out ?? options.ref
    if (report.delivery) report.delivery.out = out
    return report
  } catch (error) {
    const code = (error as {code?: string}).code
    await auditAccess(session, {...audited, outcome: code === 'E_NOT_FOR_YOU' ? 'denied' : 'failure', reason: code ?? 'E_UNEXPECTED'})
    throw error
  } finally {
    opened.close()
    if (!keep) rmSync(staging, {recursive: true, force: true})
  }
}

/** Opens the sealed package, decrypts every file into `staging`, and verifies the result there. */
async function unpackAndVerify(
  opened: OpenedDelivery,
  staging: string,
  ageIdentity: string,
  roots: ExportVerifierRoots,
  audited: Omit<AccessAuditInput, 'outcome'>,
): Promise<ExportVerifyReport> {
  const base = {
    ok: false,
    exitCode: ExitCode.VERIFY_FAILED,
    dir: staging,
    manifest: null,
    signer: null,
    files: [],
    unlisted: [],
    checkedAgainst: null,
  } as const
  const pkg = parseDeliveryPackage(await unsealPackage(await readAll(opened.source.cat(opened.packageCid)), ageIdentity, 'research export'))
  audited.cids = [opened.packageCid, ...pkg.files.map((f) => f.cid)]
  audited.custodian = pkg.custodian
  const received = {kind: opened.kind, packageCid: opened.packageCid, files: pkg.files.length, claimedCustodian: pkg.custodian, out: null}
  for (const f of pkg.files) {
    const full = insideDir(staging, f.path)
    if (!full)
      throw new MedctlError('E_MANIFEST_PATH', `The delivery names a path outside the export: ${JSON.stringify(f.path.slice(0, 80))}.`, {
        exitCode: ExitCode.VERIFY_FAILED,
      })
    let plaintext: Uint8Array
    try {
      plaintext = await decryptObject(await readAll(opened.source.cat(f.cid)), ageIdentity)
    } catch (error) {
      const code = (error as {code?: string}).code
      if (code !== 'E_DECRYPT' && code !== 'E_CAR_CORRUPT' && code !== 'E_CID_MISMATCH') throw error
      // A file of the delivery arrived damaged: named, and nothing of the delivery is kept.
      const problem =
        code === 'E_DECRYPT'
          ? `${f.path} in the delivery does not decrypt with this profile's identity.`
          : `${f.path} arrived damaged: a block of it does not match its CID.`
      return {
        ...base,
        code: 'E_FILE_ALTERED',
        problem,
        firstBadFile: f.path,
        files: [{path: f.path, status: 'altered'}],
        unlisted: [],
        delivery: received,
      }
    }
    mkdirSync(dirname(full), {recursive: true, mode: 0o700})
    writeFileSync(full, plaintext, {mode: 0o600})
  }
  const damaged = opened.damaged()
  if (damaged.length > 0) {
    throw new MedctlError(
      'E_CAR_CORRUPT',
      `The CAR file is damaged or not a CAR file: block ${damaged[0]} does not match its CID. Nothing from it was used.`,
      {exitCode: ExitCode.VERIFY_FAILED, details: {cid: damaged[0]}},
    )
  }
  const report = await verifyExport(staging, roots)
  report.delivery = received
  return report
}

/** `export verify DIR|CAR|CID`: a directory is checked where it is; a CAR file or a CID is received first (see receiveExport). */
export async function verifyExportRef(
  ref: string,
  options: {roots: ExportVerifierRoots; out?: string; session: () => Session},
): Promise<ExportVerifyReport> {
  let stat: ReturnType<typeof statSync> | undefined
  try {
    stat = statSync(ref)
  } catch {
    stat = undefined
  }
  let cid = false
  try {
    cid = !stat && Boolean(CID.parse(ref))
  } catch {
    cid = false
  }
  if (!stat && !cid) return verifyExport(ref, options.roots) // E_NO_EXPORT: nothing there
  if (stat?.isDirectory()) {
    if (options.out)
      throw usageError('E_OUT_WITH_DIR', '--out applies to a delivered export (a CAR file or a CID); a directory is verified where it is.')
    return verifyExport(ref, options.roots)
  }
  return receiveExport(options.session(), {ref, out: options.out, roots: options.roots})
}
