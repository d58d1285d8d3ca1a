/**
 * Verifying a research export where it is received (the lab's own home): the manifest's signature
 * against the custodian of the verifier's own registry, the manifest's chain and registry against
 * the verifier's, and every listed file's SHA-256. Nothing the manifest says about who signed it or
 * which network it belongs to is believed: the roots come from the verifier's profile or flags.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {lstat, readFile, readdir, realpath} from 'node:fs/promises'
import {isAbsolute, join, relative, resolve, sep} from 'node:path'
import {getAddress, verifyMessage, type Provider} from 'ethers'
import {ExitCode, MedctlError, type ExitCodeValue} from '../core/errors.js'
import {isTransientRpc} from '../chain/client.js'
import {custodianRoleAt, custodianViews, namedCustodianAt, noRegistryContract} from '../chain/registry.js'
import {manifestSigningBytes, type Manifest} from './manifest.js'

export const MANIFEST_FILE = 'manifest.json'

/** Stable codes of a failed verification (exit 4). */
export type ExportVerifyCode =
  | 'E_MANIFEST_MISSING'
  | 'E_MANIFEST_INVALID'
  | 'E_MANIFEST_PATH'
  | 'E_MANIFEST_CHAIN'
  | 'E_MANIFEST_REGISTRY'
  | 'E_MANIFEST_BLOCK'
  | 'E_MANIFEST_UNSIGNED'
  | 'E_MANIFEST_SIGNER'
  | 'E_FILE_MISSING'
  | 'E_FILE_ALTERED'

/** What the verifier trusts: its own chain (a provider) and its own registry address. */
export interface ExportVerifierRoots {
  provider: Provider
  registry: string
}

export interface ExportCheckedAgainst {
  chainId: number
  registry: string
  /** The block the registry was read at. */
  block: number
  /** The custodian the signature had to come from, and where that address was read. */
  custodian: string | null
  custodianFrom: 'registry custodian()' | 'registry CUSTODIAN_ROLE'
}

export interface ExportFileCheck {
  path: string
  status: 'ok' | 'missing' | 'altered'
}

export interface ExportVerifyReport {
  ok: boolean
  exitCode: ExitCodeValue
  /** Why it failed (absent when ok). */
  code?: ExportVerifyCode
  problem?: string
  /** The first listed file (manifest order) that is missing or differs. */
  firstBadFile?: string
  dir: string
  /** What the manifest claims (reported, never trusted). */
  manifest: {chainId: string; contract: string; block: string; format: string; createdAt: string; claimedSigner: string | null} | null
  /** The address the signature recovers to. */
  signer: string | null
  /** Files listed in the manifest and how each compared (empty when an earlier check failed). */
  files: ExportFileCheck[]
  /** Files in the directory that the manifest does not list (they are not vouched for). */
  unlisted: string[]
  checkedAgainst: ExportCheckedAgainst | null
  /** When the export arrived as a delivery (a CAR file or a CID) rather than a directory. */
  delivery?: ExportDeliveryReceived
}

/** How a delivered export was received (`export verify CAR|CID`). */
export interface ExportDeliveryReceived {
  kind: 'car' | 'embedded' | 'kubo'
  packageCid: string
  files: number
  /** What the sealed package says about its sender (reported; the manifest's signature is what is checked). */
  claimedCustodian: string
  /** Where the verified files were written (--out), or null: verified and discarded. */
  out: string | null
}

const HEX64 = /^[0-9a-f]{64}$/

function chainError(error: unknown, what: string): MedctlError {
  if (error instanceof MedctlError) return error
  if (isTransientRpc(error)) {
    return new MedctlError('E_RPC_UNAVAILABLE', `The chain did not answer while ${what}.`, {
      cause: error,
      suggestions: ["Check --rpc-url or the profile's chain."],
    })
  }
  return new MedctlError('E_CHAIN', `The chain refused a read while ${what}.`, {cause: error})
}

async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    throw chainError(error, what)
  }
}

/** A manifest's shape: enough to check it (the exporter writes more). */
function parseManifest(text: string): Manifest | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'manifest.json is not JSON'
  }
  const m = value as Partial<Manifest> | null
  if (!m || typeof m !== 'object' || Array.isArray(m)) return 'manifest.json is not an object'
  if (m.manifestVersion !== 1) return 'unknown manifestVersion'
  for (const key of ['chainId', 'contract', 'block', 'format', 'createdAt', 'exporter'] as const) {
    if (typeof m[key] !== 'string') return `"${key}" is missing or not a string`
  }
  if (!Array.isArray(m.files)) return '"files" is missing'
  for (const f of m.files) {
    if (!f || typeof f.path !== 'string' || typeof f.sha256 !== 'string' || !HEX64.test(f.sha256))
      return 'a "files" entry lacks a path or a SHA-256'
  }
  if (m.signature !== undefined && (typeof m.signature?.value !== 'string' || typeof m.signature?.signer !== 'string'))
    return '"signature" is malformed'
  return m as Manifest
}

/** A listed path resolved inside `dir`, or undefined when it would leave it. */
export function insideDir(dir: string, path: string): string | undefined {
  if (path.length === 0 || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return undefined
  if (path.split('/').some((part) => part === '..' || part === '.' || part === '')) return undefined
  const full = resolve(dir, path)
  const rel = relative(dir, full)
  if (rel.startsWith('..') || isAbsolute(rel)) return undefined
  return full
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Every regular file under `dir` (relative, `/`-separated), manifest.json excluded. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(join(dir, prefix), {withFileTypes: true})) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)))
    else if (rel !== MANIFEST_FILE) out.push(rel)
  }
  return out
}

/** The verifier's chain, read at one block: chain id, registry code and the registry's custodian. */
async function readRoots(roots: ExportVerifierRoots): Promise<{
  chainId: number
  block: number
  registry: string
  custodianOf(candidate: string | null): Promise<{custodian: string | null; from: ExportCheckedAgainst['custodianFrom']}>
}> {
  const {provider} = roots
  const registry = getAddress(roots.registry.toLowerCase())
  const chainId = Number(await read('asking the chain id', async () => (await provider.getNetwork()).chainId))
  const block = await read('reading the block number', () => provider.getBlockNumber())
  const code = await read('reading the registry', () => provider.getCode(registry, block))
  if (code === '0x') {
    throw noRegistryContract(registry, chainId, block)
  }
  const views = custodianViews(registry, provider)
  const named = await namedCustodianAt(views, block).catch((error: unknown) => {
    throw chainError(error, "reading the registry's custodian")
  })
  return {
    chainId,
    block,
    registry,
    async custodianOf(candidate) {
      if (named) return {custodian: named, from: 'registry custodian()'}
      if (!candidate) return {custodian: null, from: 'registry CUSTODIAN_ROLE'}
      const role = await read('reading CUSTODIAN_ROLE', () => custodianRoleAt(views, block))
      const holds = await read('checking the custodian role', () => views.hasRole.staticCall(role, candidate, {blockTag: block}))
      return {custodian: holds ? candidate : null, from: 'registry CUSTODIAN_ROLE'}
    },
  }
}

/**
 * Verifies the export in `dir` against the verifier's roots. Returns a report (exit 0 or 4); throws
 * only when the check itself cannot be made (no directory, chain unreachable, no registry there).
 */
export async function verifyExport(dir: string, roots: ExportVerifierRoots): Promise<ExportVerifyReport> {
  const base = resolve(dir)
  let stat
  try {
    stat = await lstat(base)
  } catch {
    throw new MedctlError('E_NO_EXPORT', 'No such export directory, delivered CAR file or CID.', {exitCode: ExitCode.USAGE})
  }
  if (!stat.isDirectory())
    throw new MedctlError('E_NO_EXPORT', 'The export must be a directory holding manifest.json.', {exitCode: ExitCode.USAGE})
  const report: ExportVerifyReport = {
    ok: false,
    exitCode: ExitCode.VERIFY_FAILED,
    dir: base,
    manifest: null,
    signer: null,
    files: [],
    unlisted: [],
    checkedAgainst: null,
  }
  const fail = (code: ExportVerifyCode, problem: string, file?: string): ExportVerifyReport =>
    Object.assign(report, {code, problem, ...(file === undefined ? {} : {firstBadFile: file})})

  let text: string
  try {
    const manifestPath = join(base, MANIFEST_FILE)
    if (!(await lstat(manifestPath)).isFile()) return fail('E_MANIFEST_MISSING', 'manifest.json is not a regular file.')
    text = await readFile(manifestPath, 'utf8')
  } catch {
    return fail('E_MANIFEST_MISSING', 'The directory holds no manifest.json.')
  }
  const parsed = parseManifest(text)
  if (typeof parsed === 'string') return fail('E_MANIFEST_INVALID', `The manifest is malformed: ${parsed}.`)
  const manifest = parsed
  report.manifest = {
    chainId: manifest.chainId,
    contract: manifest.contract,
    block: manifest.block,
    format: manifest.format,
    createdAt: manifest.createdAt,
    claimedSigner: manifest.signature?.signer ?? null,
  }

  // The signer is recovered from the signature over the canonical bytes, never read from the file.
  if (manifest.signature) {
    try {
      report.signer = verifyMessage(manifestSigningBytes(manifest), manifest.signature.value)
    } catch {
      report.signer = null
    }
  }

  const chain = await readRoots(roots)
  const {custodian, from} = await chain.custodianOf(report.signer)
  report.checkedAgainst = {chainId: chain.chainId, registry: chain.registry, block: chain.block, custodian, custodianFrom: from}

  if (manifest.chainId !== String(chain.chainId))
    return fail('E_MANIFEST_CHAIN', `The manifest is for chain ${manifest.chainId}; your chain is ${chain.chainId}.`)
  let claimedRegistry: string | undefined
  try {
    claimedRegistry = getAddress(manifest.contract.toLowerCase())
  } catch {
    claimedRegistry = undefined
  }
  if (claimedRegistry !== chain.registry)
    return fail('E_MANIFEST_REGISTRY', `The manifest names another registry than yours (${chain.registry}).`)
  if (!/^\d+$/.test(manifest.block) || BigInt(manifest.block) > BigInt(chain.block))
    return fail('E_MANIFEST_BLOCK', `The manifest pins block ${manifest.block}, which your chain has not reached (head ${chain.block}).`)
  if (!manifest.signature) return fail('E_MANIFEST_UNSIGNED', 'The manifest carries no signature.')
  if (!report.signer) return fail('E_MANIFEST_SIGNER', "The manifest's signature is not a valid signature.")
  if (!custodian || report.signer !== custodian) {
    return fail(
      'E_MANIFEST_SIGNER',
      custodian
        ? `The manifest is signed by ${report.signer}, not by your registry's custodian ${custodian}.`
        : `The manifest is signed by ${report.signer}, which does not hold the custodian role in your registry.`,
    )
  }

  // Every listed path must stay inside the directory, checked before any file is read.
  const realBase = await realpath(base)
  for (const f of manifest.files) {
    if (!insideDir(base, f.path))
      return fail('E_MANIFEST_PATH', `The manifest lists a path outside the export: ${JSON.stringify(f.path.slice(0, 80))}.`, f.path)
  }
  for (const f of manifest.files) {
    const full = insideDir(base, f.path) as string
    let status: ExportFileCheck['status']
    try {
      const st = await lstat(full)
      const real = await realpath(full)
      const rel = relative(realBase, real)
      // A regular file that really lives in the export (no symlink out of it).
      if (!st.isFile() || rel.startsWith('..') || isAbsolute(rel)) status = 'altered'
      else status = (await sha256File(full)) === f.sha256 ? 'ok' : 'altered'
    } catch {
      status = 'missing'
    }
    report.files.push({path: f.path, status})
  }
  const listed = new Set(manifest.files.map((f) => f.path))
  report.unlisted = (await listFiles(base)).filter((p) => !listed.has(p.split(sep).join('/'))).sort()
  const bad = report.files.find((f) => f.status !== 'ok')
  if (bad) {
    const others = report.files.filter((f) => f.status !== 'ok').length - 1
    const more = others > 0 ? ` (and ${others} more)` : ''
    return bad.status === 'missing'
      ? fail('E_FILE_MISSING', `${bad.path} is listed in the manifest but missing${more}.`, bad.path)
      : fail('E_FILE_ALTERED', `${bad.path} differs from the SHA-256 in the manifest${more}.`, bad.path)
  }
  return Object.assign(report, {ok: true, exitCode: ExitCode.OK})
}
