import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import canonicalize from 'canonicalize'

import {ExitCode, MedctlError} from '../core/errors.js'
import type {KAnonReport} from '../deid/kanon.js'
import type {LoadedRules} from '../deid/rules.js'

export interface ManifestFile {
  /** Relative to the export directory, `/`-separated. */
  path: string
  sha256: string
  /** Data rows (CSV/Parquet) or resources (NDJSON). */
  rows: number
}

export interface Manifest {
  manifestVersion: 1
  chainId: string
  contract: string
  block: string
  format: string
  cohort: {
    included: number
    excluded: Record<string, number>
    byClass?: Record<string, {included: number; excluded: Record<string, number>}>
  }
  rules: {name: string; sha256: string; zipList: string; restrictedZipPrefixes: string[]}
  k: number
  kAnonymity: KAnonReport
  /** The declared schema of the CSV / Parquet tables (column name and DuckDB type, in file order); absent for NDJSON. */
  schema?: Record<string, Array<{name: string; type: string}>>
  files: ManifestFile[]
  createdAt: string
  exporter: string
  signature?: {signer: string; value: string}
}

export interface BuildManifestOptions {
  chainId: number | bigint | string
  contract: string
  block: number | bigint | string
  format: string
  cohort: {
    included: number
    excluded?: Record<string, number>
    byClass?: Record<string, {included: number; excluded: Record<string, number>}>
  }
  schema?: Record<string, Array<{name: string; type: string}>>
  rules: LoadedRules
  kanon: KAnonReport
  files: readonly ManifestFile[]
  /** ISO 8601; pass a fixed value (the block's time) for byte-identical manifests. */
  createdAt: string
  exporter: string
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function sortedRecord(r: Record<string, number> = {}): Record<string, number> {
  return Object.fromEntries(
    Object.keys(r)
      .sort()
      .map((k) => [k, r[k]]),
  )
}

export function buildManifest(o: BuildManifestOptions): Manifest {
  return {
    manifestVersion: 1,
    chainId: String(o.chainId),
    contract: o.contract,
    block: String(o.block),
    format: o.format,
    cohort: {
      included: o.cohort.included,
      excluded: sortedRecord(o.cohort.excluded),
      ...(o.cohort.byClass
        ? {
            byClass: Object.fromEntries(
              Object.keys(o.cohort.byClass)
                .sort()
                .map((c) => [c, {included: o.cohort.byClass![c].included, excluded: sortedRecord(o.cohort.byClass![c].excluded)}]),
            ),
          }
        : {}),
    },
    rules: {
      name: o.rules.name,
      sha256: o.rules.sha256,
      zipList: o.rules.parameters.zipCensusList,
      restrictedZipPrefixes: [...o.rules.parameters.restrictedZipPrefixes],
    },
    k: o.kanon.k,
    kAnonymity: o.kanon,
    ...(o.schema ? {schema: o.schema} : {}),
    files: [...o.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    createdAt: o.createdAt,
    exporter: o.exporter,
  }
}

/** The bytes a signature covers: RFC 8785 canonical JSON of the manifest without `signature`. */
export function manifestSigningBytes(manifest: Manifest): Uint8Array {
  const {signature: _signature, ...unsigned} = manifest
  return Buffer.from(canonicalize(unsigned) ?? '', 'utf8')
}

export type SignFn = (message: Uint8Array) => string | Promise<string>
export type VerifyFn = (message: Uint8Array, signature: string, signer: string) => boolean | Promise<boolean>

/** Signs with the caller's key (e.g. the custodian's Ethereum key, EIP-191 personal_sign). */
export async function signManifest(manifest: Manifest, sign: SignFn, signer = manifest.exporter): Promise<Manifest> {
  const value = await sign(manifestSigningBytes(manifest))
  return {...manifest, signature: {signer, value}}
}

export async function verifyManifestSignature(manifest: Manifest, verify: VerifyFn): Promise<boolean> {
  if (!manifest.signature) return false
  return verify(manifestSigningBytes(manifest), manifest.signature.value, manifest.signature.signer)
}

/** Checks every listed file's SHA-256 in `dir`; returns the paths that differ or are missing. */
export async function verifyManifestFiles(dir: string, manifest: Manifest): Promise<string[]> {
  const bad: string[] = []
  for (const f of manifest.files) {
    if (f.path.includes('..') || f.path.startsWith('/')) {
      throw new MedctlError('E_MANIFEST_PATH', `manifest lists a path outside the export: ${f.path}`, {exitCode: ExitCode.VERIFY_FAILED})
    }
    try {
      if (sha256Hex(await readFile(join(dir, f.path))) !== f.sha256) bad.push(f.path)
    } catch {
      bad.push(f.path)
    }
  }
  return bad
}

/** manifest.json bytes: two-space JSON with a final newline (stable key order from buildManifest). */
export function manifestToJson(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 2) + '\n'
}
