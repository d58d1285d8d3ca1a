import {existsSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'
import {CID} from 'multiformats/cid'
import {MedctlError, ExitCode} from '../core/errors.js'
import {
  dagBlocks,
  openCarFile,
  openContentStore,
  prepareFile,
  writeCarFile,
  type Block,
  type ContentSource,
  type ContentStore,
  type PreparedFile,
} from '../ipfs/index.js'
import type {Session} from '../session/session.js'
import {decryptText} from '../vault/crypto.js'
import {auditAccess, type AccessAuditInput} from './audit.js'

/**
 * Sealed deliveries between homes: a package age-encrypted to its one recipient, with the objects
 * it names, sent as one CARv1 file (root = the package) or through the sender's content store, and
 * opened by the recipient from the CAR (every block checked against its CID) or by CID through
 * its own store. Access packages (`records share`) and research-export deliveries (`export research
 * --deliver-to`) both travel this way.
 */

/** Where a sealed package went: the profile's store (`embedded` or `kubo`) or a CAR file. */
export interface Released {
  packageCid: string
  delivery: 'embedded' | 'kubo' | 'car'
  /** With `out`: the CAR file written (the package and every object it names). */
  car?: {out: string; blocks: number; bytes: number}
}

/** An output file's folder must exist: checked before anything is released or decrypted. */
export function checkOutputPath(out: string): void {
  let ok = false
  try {
    ok = statSync(dirname(resolve(out))).isDirectory() && !(existsSync(out) && statSync(out).isDirectory())
  } catch {
    ok = false
  }
  if (!ok)
    throw new MedctlError('E_BAD_OUT', `Cannot write ${out}: its folder does not exist or it is a folder.`, {exitCode: ExitCode.USAGE})
}

/**
 * Sends a sealed package with the objects it names. `stored` objects are DAGs already in the
 * profile's content store (record objects); `attached` ones are made for this release and travel
 * with it (into the CAR, or added and pinned in the store). Audited write-ahead: the key release
 * is in the log before the package leaves; a failure to write it is logged after.
 */
export async function releasePackage(
  session: Session,
  input: {
    sealed: Uint8Array
    stored?: string[]
    attached?: Array<{bytes: Uint8Array; file: PreparedFile}>
    out?: string
    audit: Omit<AccessAuditInput, 'outcome' | 'type'>
  },
): Promise<Released> {
  const prepared = await prepareFile(input.sealed)
  const attached = input.attached ?? []
  let opened: ContentStore | undefined
  const store = (): ContentStore => (opened ??= openContentStore(session))
  const released: Omit<AccessAuditInput, 'outcome'> = {
    ...input.audit,
    type: 'key-release',
    cids: [prepared.cid, ...(input.audit.cids ?? [])],
  }
  await auditAccess(session, {...released, outcome: 'success', reason: input.audit.reason ?? 'Permit'})
  try {
    if (input.out) {
      const local = new Map<string, Uint8Array>()
      for (const file of [prepared, ...attached.map((a) => a.file)]) for (const b of file.blocks) local.set(b.cid, b.bytes)
      const stored = input.stored ?? []
      const blocks = async function* (): AsyncGenerator<Block> {
        yield* dagBlocks([prepared.cid, ...attached.map((a) => a.file.cid)], async (cid) => local.get(cid))
        if (stored.length > 0) yield* dagBlocks(stored, (cid) => store().getBlock(cid))
      }
      const written = await writeCarFile(input.out, [prepared.cid], blocks())
      return {packageCid: prepared.cid, delivery: 'car', car: {out: input.out, ...written}}
    }
    for (const {bytes} of attached) {
      const {cid} = await store().add(bytes)
      await store().pin(cid)
    }
    const {cid} = await store().add(input.sealed)
    await store().pin(cid)
    return {packageCid: cid, delivery: store().kind}
  } catch (error) {
    await auditAccess(session, {...released, outcome: 'failure', reason: (error as {code?: string}).code ?? 'E_UNEXPECTED'})
    throw error
  }
}

/** A delivery named on the command line: an existing file is a CAR; otherwise it must be a CID. */
export function packageReference(ref: string): {car: string} | {cid: string} {
  let isFile = false
  try {
    isFile = statSync(ref).isFile()
  } catch {
    // not a file: a CID then
  }
  if (isFile) return {car: ref}
  try {
    return {cid: CID.parse(ref).toString()}
  } catch {
    throw new MedctlError('E_BAD_PACKAGE_REF', 'Name the package by its CAR file (an existing file) or its CID (bafy…).', {
      exitCode: ExitCode.USAGE,
    })
  }
}

export interface OpenedDelivery {
  /** Where the blocks come from: the verified CAR file, or the profile's store. */
  source: ContentSource
  packageCid: string
  kind: 'car' | 'embedded' | 'kubo'
  /** Blocks of the CAR file that did not match their CIDs (with `damaged: 'collect'`; asking for one fails). */
  damaged(): string[]
  close(): void
}

/**
 * Opens a delivery by CAR file (every block hashed against its CID before anything is used;
 * exactly one root, the package) or by CID through this profile's own content store. With
 * `damaged: 'collect'` a CAR block that fails its hash is set aside instead of refusing the file,
 * and fails only when it is read (so the caller can name what it belonged to).
 */
export async function openDelivery(
  session: Session,
  ref: string,
  what = 'medctl package',
  options: {damaged?: 'refuse' | 'collect'} = {},
): Promise<OpenedDelivery> {
  const reference = packageReference(ref)
  if ('car' in reference) {
    const car = await openCarFile(reference.car, options)
    if (car.roots.length !== 1) {
      car.close()
      throw new MedctlError('E_BAD_PACKAGE', `This CAR file is not a ${what} (it must have exactly one root).`, {
        exitCode: ExitCode.VERIFY_FAILED,
      })
    }
    return {source: car, packageCid: car.roots[0] as string, kind: 'car', damaged: () => car.damaged(), close: () => car.close()}
  }
  const store = openContentStore(session)
  if (store.kind === 'embedded' && !(await store.has(reference.cid)))
    throw new MedctlError('E_CID_NOT_FOUND', `No such ${what} in the content store.`, {exitCode: ExitCode.USAGE})
  return {source: store, packageCid: reference.cid, kind: store.kind, damaged: () => [], close: () => undefined}
}

/** The package's plaintext, decrypted with this profile's age identity (E_NOT_FOR_YOU, exit 5, when it is someone else's). */
export async function unsealPackage(sealed: Uint8Array, ageIdentity: string, what = 'package'): Promise<string> {
  try {
    return await decryptText(sealed, ageIdentity)
  } catch (error) {
    throw new MedctlError('E_NOT_FOR_YOU', `This ${what} is not addressed to this profile.`, {cause: error, exitCode: ExitCode.DENIED})
  }
}
