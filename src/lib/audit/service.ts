import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {Wallet} from 'ethers'
import {MedctlError, ExitCode} from '../core/errors.js'
import type {MedctlPaths} from '../config/paths.js'
import {anchorTreeHead, listAnchors, registryContract} from '../chain/registry.js'
import type {Session} from '../session/session.js'
import {readAll, type ContentStore} from '../ipfs/index.js'
import type {AuditEntry, AuditInput} from './entry.js'
import {toFhirAuditEvent} from './fhir.js'
import {appendHead, headSigner, parseHeads, readHeads, signHead} from './heads.js'
import {AuditLog, lineHash, readLog} from './log.js'
import {RootAccumulator, leafHash} from './merkle.js'
import {acceptedCustodians, openChainView, type CheckedAgainst, type VerifierTrust} from './trust.js'
import {verifyAuditLog, type ChainAnchor, type VerifyResult} from './verify.js'

export function auditLog(paths: Pick<MedctlPaths, 'auditDir'>): AuditLog {
  return new AuditLog(paths.auditDir)
}

export async function appendAudit(paths: Pick<MedctlPaths, 'auditDir'>, input: AuditInput): Promise<{index: number; treeSize: number}> {
  const {first, size} = auditLog(paths).append([input])
  return {index: first, treeSize: size}
}

export async function appendAuditBatch(paths: Pick<MedctlPaths, 'auditDir'>, inputs: AuditInput[]): Promise<{first: number; treeSize: number}> {
  const {first, size} = auditLog(paths).append(inputs)
  return {first, treeSize: size}
}

/** Size, root and last-line hash of the log as it is now. */
export function treeHead(dir: string): {size: number; root: string; lastHash: string} {
  const acc = new RootAccumulator()
  let lastHash = ''
  for (const line of readLog(dir)) {
    if (line.torn) throw new MedctlError('E_AUDIT_TORN_TAIL', `Entry ${line.index} is torn.`, {exitCode: ExitCode.VERIFY_FAILED})
    acc.push(leafHash(line.bytes))
    lastHash = lineHash(line.bytes)
  }
  return {size: acc.size, root: `0x${acc.root().toString('hex')}`, lastHash}
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
export async function anchorLog(session: Session): Promise<AnchorResult> {
  const dir = session.paths.auditDir
  const head = treeHead(dir)
  if (head.size === 0) throw new MedctlError('E_AUDIT_EMPTY', 'The audit log is empty: nothing to anchor.', {exitCode: 2})
  const last = readHeads(dir).at(-1)
  if (last && last.size === head.size && last.root === head.root && last.anchor) {
    return {size: head.size, root: head.root, ...last.anchor, gasUsed: '0', alreadyAnchored: true}
  }
  const wallet = (await session.unlock()).wallet as Wallet
  const registryAddress = session.registry()
  const signed = await signHead(wallet, {size: head.size, root: head.root, lastHash: head.lastHash, time: new Date().toISOString(), chainId: session.profile.chain.chainId, registry: registryAddress})
  const registry = registryContract(registryAddress, await session.signer())
  const anchored = await anchorTreeHead(registry, {size: head.size, root: head.root})
  await session.chainWritten()
  appendHead(dir, {...signed, anchor: {index: anchored.index, txHash: anchored.txHash, blockNumber: anchored.blockNumber}})
  return {size: head.size, root: head.root, txHash: anchored.txHash, blockNumber: anchored.blockNumber, index: anchored.index, gasUsed: anchored.gasUsed, alreadyAnchored: false}
}

/** Anchors when at least `every` entries came since the last anchored head. */
export async function anchorIfDue(session: Session, every: number): Promise<AnchorResult | undefined> {
  const last = readHeads(session.paths.auditDir).at(-1)
  const size = auditLog(session.paths).size()
  if (size - (last?.size ?? 0) < every) return undefined
  return anchorLog(session)
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
    const result = verifyAuditLog(dir, {custodian: trust.custodian, registry: trust.registry, chainId: trust.chainId, requireAnchored: options.requireAnchored})
    return {
      ...result,
      checkedAgainst: {mode: 'offline', source: trust.source, chainId: trust.chainId ?? null, registry: trust.registry ?? null, block: null, custodian: trust.custodian ? [trust.custodian] : null, custodianFrom: trust.custodianFrom ?? null},
    }
  }
  const view = await openChainView(trust.provider, trust.registry)
  const candidates = new Set<string>(view.anchors.map((a) => a.by))
  for (const head of parseHeads(dir).heads) {
    const signer = headSigner(head)
    if (signer) candidates.add(signer)
  }
  const accepted = await acceptedCustodians(view, trust.custodian, candidates)
  const result = verifyAuditLog(dir, {anchors: view.anchors, custodian: accepted.custodian, registry: view.registry, chainId: view.chainId, requireAnchored: options.requireAnchored})
  return {...result, checkedAgainst: {mode: 'chain', source: trust.source, chainId: view.chainId, registry: view.registry, block: view.block, custodian: accepted.custodian, custodianFrom: accepted.from}}
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
    return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof entry.type === 'string' && typeof entry.actor?.address === 'string' ? entry : undefined
  } catch {
    return undefined
  }
}

export function showEntries(dir: string, filter: ShowFilter): Array<AuditEntry & {index: number}> {
  const out: Array<AuditEntry & {index: number}> = []
  for (const line of readLog(dir)) {
    if (line.torn) continue
    const entry = parseEntry(line.bytes)
    if (!entry) continue
    if (filter.subject && entry.subject !== filter.subject) continue
    if (filter.actor && entry.actor.address.toLowerCase() !== filter.actor.toLowerCase() && entry.actor.profile !== filter.actor) continue
    if (filter.types?.length && !filter.types.includes(entry.type)) continue
    if (filter.outcome && entry.outcome !== filter.outcome) continue
    if (filter.since && entry.recorded < filter.since) continue
    out.push({index: line.index, ...entry})
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

/** The log and its signed heads as one object in the content store. */
export async function publishLog(dir: string, store: ContentStore): Promise<{cid: string; entries: number; heads: number}> {
  const heads = readHeads(dir)
  const parts: Buffer[] = [Buffer.from(`${JSON.stringify({format: PUBLISHED, heads})}\n`)]
  let entries = 0
  for (const line of readLog(dir)) {
    parts.push(line.bytes, Buffer.from(line.torn ? '' : '\n'))
    entries++
  }
  const {cid} = await store.add(Buffer.concat(parts))
  await store.pin(cid)
  return {cid, entries, heads: heads.length}
}

/** Unpacks a published log into a temporary directory that verify can read. */
export async function fetchPublishedLog(cid: string, store: ContentStore): Promise<string> {
  const bytes = await readAll(store.cat(cid))
  const nl = bytes.indexOf(10)
  let header: {format?: unknown; heads?: unknown} | undefined
  try {
    header = nl > 0 ? (JSON.parse(bytes.subarray(0, nl).toString('utf8')) as {format?: unknown; heads?: unknown}) : undefined
  } catch {
    header = undefined
  }
  if (!header || header.format !== PUBLISHED || !Array.isArray(header.heads)) throw new MedctlError('E_NOT_AN_AUDIT_LOG', 'That CID is not a published medctl audit log.', {exitCode: 2})
  const dir = mkdtempSync(join(tmpdir(), 'medctl-audit-'))
  writeFileSync(join(dir, 'log-000001.ndjson'), bytes.subarray(nl + 1))
  writeFileSync(join(dir, 'heads.ndjson'), header.heads.map((h) => `${JSON.stringify(h)}\n`).join(''))
  return dir
}
