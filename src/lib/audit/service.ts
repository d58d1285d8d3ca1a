import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {Wallet} from 'ethers'
import {CID} from 'multiformats/cid'
import {MedctlError, ExitCode} from '../core/errors.js'
import type {MedctlPaths} from '../config/paths.js'
import {anchorTreeHead, listAnchors, registryContract} from '../chain/registry.js'
import type {Session} from '../session/session.js'
import type {ContentSource, ContentStore} from '../ipfs/index.js'
import type {AuditEntry, AuditInput} from './entry.js'
import {toFhirAuditEvent} from './fhir.js'
import {appendHead, headSigner, parseHeads, readHeads, signHead} from './heads.js'
import {AuditLog, logTreeHead, logTreeHeadAsync, readLog} from './log.js'
import type {LogTreeHead} from './scan.js'
import {
  acceptedCustodians,
  chainCheckedAgainst,
  offlineCheckedAgainst,
  openChainView,
  type CheckedAgainst,
  type VerifierTrust,
} from './trust.js'
import {verifyAuditLog, type ChainAnchor, type VerifyResult} from './verify.js'

export function auditLog(paths: Pick<MedctlPaths, 'auditDir'>): AuditLog {
  return new AuditLog(paths.auditDir)
}

export async function appendAudit(paths: Pick<MedctlPaths, 'auditDir'>, input: AuditInput): Promise<{index: number; treeSize: number}> {
  const {first, size} = auditLog(paths).append([input])
  return {index: first, treeSize: size}
}

export async function appendAuditBatch(
  paths: Pick<MedctlPaths, 'auditDir'>,
  inputs: AuditInput[],
): Promise<{first: number; treeSize: number}> {
  const {first, size} = auditLog(paths).append(inputs)
  return {first, treeSize: size}
}

/** Size, root and last-line hash of the log as it is now (one pass, no line copied). */
export function treeHead(dir: string): {size: number; root: string; lastHash: string} {
  return untorn(logTreeHead(dir))
}

/** As `treeHead`, with the leaves of a large log hashed in a worker thread. */
export async function treeHeadAsync(dir: string): Promise<{size: number; root: string; lastHash: string}> {
  return untorn(await logTreeHeadAsync(dir))
}

function untorn(head: LogTreeHead): {size: number; root: string; lastHash: string} {
  if (head.torn !== undefined) throw new MedctlError('E_AUDIT_TORN_TAIL', `Entry ${head.torn} is torn.`, {exitCode: ExitCode.VERIFY_FAILED})
  return {size: head.size, root: head.root, lastHash: head.lastHash}
}

export interface AnchorResult {
  size: number
  root: string
  txHash: string
  blockNumber: number
  index: number
  gasUsed: string
  alreadyAnchored: boolean
}

/** Signs the current tree head with the custodian key and anchors it on chain. */
/** The content-store code (kubo-rpc-client, UnixFS, CAR) loads only for the commands that publish or fetch a log (start-up). */
const loadIpfs = () => import('../ipfs/index.js')

export async function anchorLog(session: Session): Promise<AnchorResult> {
  const dir = session.paths.auditDir
  const head = await treeHeadAsync(dir)
  if (head.size === 0) throw new MedctlError('E_AUDIT_EMPTY', 'The audit log is empty: nothing to anchor.', {exitCode: 2})
  const last = readHeads(dir).at(-1)
  if (last && last.size === head.size && last.root === head.root && last.anchor) {
    return {size: head.size, root: head.root, ...last.anchor, gasUsed: '0', alreadyAnchored: true}
  }
  const wallet = (await session.unlock()).wallet as Wallet
  const registryAddress = session.registry()
  const signed = await signHead(wallet, {
    size: head.size,
    root: head.root,
    lastHash: head.lastHash,
    time: new Date().toISOString(),
    chainId: session.profile.chain.chainId,
    registry: registryAddress,
  })
  const registry = registryContract(registryAddress, await session.signer())
  const anchored = await anchorTreeHead(registry, {size: head.size, root: head.root})
  await session.chainWritten()
  appendHead(dir, {...signed, anchor: {index: anchored.index, txHash: anchored.txHash, blockNumber: anchored.blockNumber}})
  return {
    size: head.size,
    root: head.root,
    txHash: anchored.txHash,
    blockNumber: anchored.blockNumber,
    index: anchored.index,
    gasUsed: anchored.gasUsed,
    alreadyAnchored: false,
  }
}

export async function chainAnchors(session: Session, registryAddress?: string): Promise<ChainAnchor[]> {
  const registry = registryContract(registryAddress ?? session.registry(), await session.chainProvider())
  return listAnchors(registry)
}

export function verifyLog(dir: string, anchors: ChainAnchor[] | undefined, custodian?: string): VerifyResult {
  return verifyAuditLog(dir, {anchors, custodian})
}

export type VerifyReport = VerifyResult & {checkedAgainst: CheckedAgainst}

/**
 * Verifies a log against the verifier's own roots only: anchors come from the verifier's registry
 * at a pinned block, heads must be signed by the custodian the verifier names (flag) or its registry
 * names (`custodian()`, else CUSTODIAN_ROLE), for that registry and chain. Nothing the log says about
 * its registry or signer is believed.
 */
export async function verifyAgainst(dir: string, trust: VerifierTrust, options: {requireAnchored?: boolean} = {}): Promise<VerifyReport> {
  if (trust.mode === 'offline') {
    const result = verifyAuditLog(dir, {
      custodian: trust.custodian,
      registry: trust.registry,
      chainId: trust.chainId,
      requireAnchored: options.requireAnchored,
    })
    return {
      ...result,
      checkedAgainst: offlineCheckedAgainst(trust),
    }
  }
  const view = await openChainView(trust.provider, trust.registry)
  const candidates = new Set<string>(view.anchors.map((a) => a.by))
  for (const head of parseHeads(dir).heads) {
    const signer = headSigner(head)
    if (signer) candidates.add(signer)
  }
  const accepted = await acceptedCustodians(view, trust.custodian, candidates)
  const result = verifyAuditLog(dir, {
    anchors: view.anchors,
    custodian: accepted.custodian,
    registry: view.registry,
    chainId: view.chainId,
    requireAnchored: options.requireAnchored,
  })
  return {
    ...result,
    checkedAgainst: chainCheckedAgainst(trust.source, view, accepted),
  }
}

export interface ShowFilter {
  subject?: string
  actor?: string
  types?: string[]
  outcome?: string
  since?: string
}

/** The line as an entry, or undefined when it is not one (a damaged log: `audit verify` names it). */
function parseEntry(bytes: Buffer): AuditEntry | undefined {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown
    const entry = value as AuditEntry
    return typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof entry.type === 'string' &&
      typeof entry.actor?.address === 'string'
      ? entry
      : undefined
  } catch {
    return undefined
  }
}

/** A break-glass access and what its review decided (pending until a `consent review` entry names it). */
export interface BreakGlassReview {
  accessId: string
  review: 'approved' | 'rejected' | 'pending'
  /** The review entry's index and time, when reviewed. */
  reviewIndex?: number
  reviewed?: string
  reviewer?: string
}

export type ShownEntry = AuditEntry & {index: number; breakGlass?: BreakGlassReview}

/**
 * The entries that pass `filter`, in log order. A break-glass entry carries its access id and the
 * outcome of its review, found anywhere later in the log (the review itself may be filtered out).
 */
export function showEntries(dir: string, filter: ShowFilter): ShownEntry[] {
  const out: ShownEntry[] = []
  const reviews = new Map<string, {index: number; recorded: string; approved: boolean; reviewer: string}>()
  for (const line of readLog(dir)) {
    if (line.torn) continue
    const entry = parseEntry(line.bytes)
    if (!entry) continue
    if (entry.type === 'review' && entry.outcome === 'success' && entry.detail?.accessId !== undefined) {
      reviews.set(String(entry.detail.accessId), {
        index: line.index,
        recorded: entry.recorded,
        approved: entry.detail.approved === true,
        reviewer: entry.actor.profile ?? entry.actor.address,
      })
    }
    if (filter.subject && entry.subject?.toLowerCase() !== filter.subject.toLowerCase()) continue
    if (filter.actor && entry.actor.address.toLowerCase() !== filter.actor.toLowerCase() && entry.actor.profile !== filter.actor) continue
    if (filter.types?.length && !filter.types.includes(entry.type)) continue
    if (filter.outcome && entry.outcome !== filter.outcome) continue
    if (filter.since && entry.recorded < filter.since) continue
    out.push({index: line.index, ...entry})
  }
  for (const entry of out) {
    if (entry.type !== 'break-glass' || entry.detail?.accessId === undefined) continue
    const accessId = String(entry.detail.accessId)
    const review = reviews.get(accessId)
    entry.breakGlass = review
      ? {
          accessId,
          review: review.approved ? 'approved' : 'rejected',
          reviewIndex: review.index,
          reviewed: review.recorded,
          reviewer: review.reviewer,
        }
      : {accessId, review: 'pending'}
  }
  return out
}

export function exportFhir(dir: string, out: string): {written: number; out: string} {
  const lines: string[] = []
  for (const line of readLog(dir)) {
    const entry = line.torn ? undefined : parseEntry(line.bytes)
    if (entry) lines.push(JSON.stringify(toFhirAuditEvent(entry, line.index)))
  }
  writeFileSync(out, lines.length ? `${lines.join('\n')}\n` : '')
  return {written: lines.length, out}
}

const PUBLISHED = 'medctl-audit-log/1'

/**
 * The published form of a log: one header line `{"format":"medctl-audit-log/1","heads":[…]}` (the
 * signed tree heads), then every line of the log as stored, produced line by line.
 */
function* publishedLog(dir: string, counts: {entries: number; heads: number}): Generator<Uint8Array> {
  const heads = readHeads(dir)
  counts.heads = heads.length
  yield Buffer.from(`${JSON.stringify({format: PUBLISHED, heads})}\n`)
  for (const line of readLog(dir)) {
    yield line.torn ? line.bytes : Buffer.concat([line.bytes, NEWLINE])
    counts.entries++
  }
}
const NEWLINE = Buffer.from('\n')

export interface PublishResult {
  cid: string
  entries: number
  heads: number
  /** Where it went: the profile's content store, or a CARv1 file. */
  delivery: 'embedded' | 'kubo' | 'car'
  car?: {out: string; blocks: number; bytes: number}
}

/** The log and its signed heads as one object in the profile's content store (pinned). */
export async function publishLog(dir: string, store: ContentStore): Promise<PublishResult> {
  const counts = {entries: 0, heads: 0}
  const {cid} = await store.add(publishedLog(dir, counts))
  await store.pin(cid)
  return {cid, ...counts, delivery: store.kind}
}

/**
 * The log and its signed heads as a CARv1 file (roots = the published log's CID, then every block
 * of its UnixFS DAG), for an auditor with no access to the custodian's store. Written atomically.
 */
export async function publishLogCar(dir: string, out: string): Promise<PublishResult> {
  let writable = false
  try {
    writable = statSync(dirname(resolve(out))).isDirectory() && !(existsSync(out) && statSync(out).isDirectory())
  } catch {
    writable = false
  }
  if (!writable)
    throw new MedctlError('E_BAD_OUT', `Cannot write ${out}: its folder does not exist or it is a folder.`, {exitCode: ExitCode.USAGE})
  const counts = {entries: 0, heads: 0}
  const {prepareFile, writeCarFile} = await loadIpfs()
  // The blocks are gathered first: the CAR header names the root, known only once all are made.
  const prepared = await prepareFile(publishedLog(dir, counts))
  const written = await writeCarFile(out, [prepared.cid], prepared.blocks)
  return {cid: prepared.cid, ...counts, delivery: 'car', car: {out, ...written}}
}

/**
 * Unpacks a published log (by CID from a content store, or the root of a CAR file whose every
 * block was checked against its CID) into a temporary directory that verify can read. The caller
 * removes the directory (`rmSync(dir, {recursive: true})`).
 */
export async function fetchPublishedLog(cid: string, source: ContentSource): Promise<string> {
  const {readAll} = await loadIpfs()
  const bytes = await readAll(source.cat(cid))
  const nl = bytes.indexOf(10)
  let header: {format?: unknown; heads?: unknown} | undefined
  try {
    header = nl > 0 ? (JSON.parse(bytes.subarray(0, nl).toString('utf8')) as {format?: unknown; heads?: unknown}) : undefined
  } catch {
    header = undefined
  }
  if (!header || header.format !== PUBLISHED || !Array.isArray(header.heads))
    throw new MedctlError('E_NOT_AN_AUDIT_LOG', 'That is not a published medctl audit log.', {exitCode: 2})
  const dir = mkdtempSync(join(tmpdir(), 'medctl-audit-'))
  writeFileSync(join(dir, 'log-000001.ndjson'), bytes.subarray(nl + 1), {mode: 0o600})
  writeFileSync(join(dir, 'heads.ndjson'), header.heads.map((h) => `${JSON.stringify(h)}\n`).join(''), {mode: 0o600})
  return dir
}

/** Opens a published log's CAR file (every block checked against its CID) and unpacks it (see fetchPublishedLog). */
export async function fetchPublishedLogCar(path: string): Promise<{dir: string; cid: string}> {
  const car = await (await loadIpfs()).openCarFile(path)
  try {
    if (car.roots.length !== 1)
      throw new MedctlError('E_NOT_AN_AUDIT_LOG', 'This CAR file is not a published medctl audit log (it must have exactly one root).', {
        exitCode: 2,
      })
    const cid = car.roots[0] as string
    return {dir: await fetchPublishedLog(cid, car), cid}
  } finally {
    car.close()
  }
}

/** `audit publish`: to a CARv1 file with `out`, else to the profile's content store. */
export async function publishAuditLog(dir: string, options: {out?: string; store: () => ContentStore}): Promise<PublishResult> {
  return options.out ? publishLogCar(dir, options.out) : publishLog(dir, options.store())
}

/** Which log `audit verify --log` names: this home's, a directory, a CAR file, or a CID. */
export type LogRef = {kind: 'home' | 'dir'; dir: string} | {kind: 'car'; path: string} | {kind: 'cid'; cid: string}

export function logReference(ref: string | undefined, homeDir: string): LogRef {
  if (ref === undefined) return {kind: 'home', dir: homeDir}
  let stat: ReturnType<typeof statSync> | undefined
  try {
    stat = statSync(ref)
  } catch {
    stat = undefined
  }
  if (stat?.isDirectory()) return {kind: 'dir', dir: ref}
  if (stat?.isFile()) return {kind: 'car', path: ref}
  try {
    if (/^b[a-z2-7]{20,}$/.test(ref)) return {kind: 'cid', cid: CID.parse(ref).toString()}
  } catch {
    // not a CID: said below
  }
  throw new MedctlError(
    'E_NO_LOG',
    'Name the log by a directory, a CAR file written by `audit publish --out`, or the CID of a published log.',
    {exitCode: ExitCode.USAGE},
  )
}

export type LogVerifyReport = VerifyReport & {log: {kind: LogRef['kind']; cid?: string}}

/**
 * Verifies the log `ref` names against the verifier's own roots (see verifyAgainst). A CAR file is
 * checked block by block against its CIDs before anything in it is used (E_CAR_CORRUPT, exit 4); a
 * CID is read through the verifier's own content store (`store`). The unpacked copy is removed.
 */
export async function verifyLogRef(
  ref: LogRef,
  trust: VerifierTrust | (() => Promise<VerifierTrust>),
  options: {requireAnchored?: boolean; store?: () => ContentSource} = {},
): Promise<LogVerifyReport> {
  return withLogDir(ref, options.store, async (dir, cid) => {
    const resolved = typeof trust === 'function' ? await trust() : trust
    try {
      return {
        ...(await verifyAgainst(dir, resolved, {requireAnchored: options.requireAnchored})),
        log: {kind: ref.kind, ...(cid ? {cid} : {})},
      }
    } finally {
      resolved.close()
    }
  })
}

/**
 * Runs `use` on the directory of the log `ref` names: a CAR file or a CID is unpacked into a
 * temporary copy (every CAR block checked against its CID first), removed afterwards.
 */
export async function withLogDir<T>(
  ref: LogRef,
  store: (() => ContentSource) | undefined,
  use: (dir: string, cid: string | undefined) => Promise<T>,
): Promise<T> {
  let unpacked: {dir: string; cid: string}
  if (ref.kind === 'car') unpacked = await fetchPublishedLogCar(ref.path)
  else if (ref.kind !== 'cid') return use(ref.dir, undefined)
  else {
    if (!store)
      throw new MedctlError('E_NO_STORE', 'A published log named by CID is read through your content store: use a profile.', {
        exitCode: ExitCode.USAGE,
      })
    try {
      unpacked = {dir: await fetchPublishedLog(ref.cid, store()), cid: ref.cid}
    } catch (error) {
      if (error instanceof (await loadIpfs()).MissingBlockError)
        throw new MedctlError(
          'E_CID_NOT_FOUND',
          `Your content store does not hold the published log ${ref.cid} (block ${error.cid} is missing): fetch it through a Kubo node that reaches the custodian's, or ask for the CAR file (\`audit publish --out\`).`,
          {exitCode: ExitCode.USAGE},
        )
      throw error
    }
  }
  try {
    return await use(unpacked.dir, unpacked.cid)
  } finally {
    rmSync(unpacked.dir, {recursive: true, force: true})
  }
}
