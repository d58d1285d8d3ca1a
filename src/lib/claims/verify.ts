import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {recordAuditBatch, type SessionAuditInput} from '../audit/record.js'
import {consentContext} from '../consent/context.js'
import {attestationOf, checkConsent} from '../consent/registry.js'
import {claimAttestationSigner, registryCustodian} from '../chain/registry.js'
import {ensurePrivateDir} from '../config/paths.js'
import {writeFileAtomic} from '../core/atomic.js'
import {ExitCode, usageError, type ExitCodeValue} from '../core/errors.js'
import type {FhirResource} from '../fhir/index.js'
import type {Session} from '../session/session.js'
import type {ClaimAttestationFile} from './attest.js'
import {
  claimHashOf,
  claimKey,
  claimReferences,
  differingElements,
  leafHashes,
  referenceOf,
  resourceHash,
  sha256Hex,
  type ClaimDigest,
} from './digest.js'

export type VerifyStatus = 'Verified' | 'NotAttested' | 'Altered' | 'Duplicate' | 'NoConsent'

export interface VerifiedClaim {
  /** `Claim/<id>`. */
  claim: string
  /** Which input file it came from (as given). */
  file: string
  status: VerifyStatus
  claimHash?: string
  /** The subject pseudonym the chain holds for the claim (attested claims only). */
  subject?: string
  /** When it was attested (chain time, seconds). */
  attestedAt?: number
  /** Altered: the elements (`Claim.item[1].net.value`) or supporting resources (`Encounter/…`) that differ. */
  differs?: string[]
  /** NotAttested: supporting resources neither supplied nor in an attestation file. */
  missing?: string[]
  /**
   * The custodian's EIP-712 signature in the claim's attestation file (absent when no file came
   * with the claim): `valid` (by this registry's custodian, for this chain, registry and payer),
   * `missing`, or `invalid` (malformed, another signer, or signed for other values).
   */
  signature?: 'valid' | 'missing' | 'invalid'
  reason?: string
}

export interface VerifyClaimsResult {
  /** What was checked against: this profile's own registry, chain and payer address — never the file's. */
  checkedAgainst: {
    registry: string
    chainId: number
    block: number
    payer: string
    /** The registry's custodian(): the only accepted signer of attestation files. */ custodian: string
  }
  claims: VerifiedClaim[]
  summary: Record<VerifyStatus, number>
  /** The report written under the home (hashes and codes only), or to --report. */
  report: string
  exitCode: ExitCodeValue
}

interface Inputs {
  claims: Array<{claim: FhirResource; file: string}>
  attestations: Map<string, {attestation: ClaimAttestationFile; file: string}>
  supporting: Map<string, FhirResource>
  rejected: number
}

function isAttestation(value: unknown): value is ClaimAttestationFile {
  const v = value as Partial<ClaimAttestationFile> | null
  return Boolean(
    v &&
    v.medctl === 'claim-attestation' &&
    v.claim &&
    typeof v.claim === 'object' &&
    v.digest &&
    typeof v.digest.elements === 'object' &&
    typeof v.digest.supporting === 'object',
  )
}

function listFiles(path: string): string[] {
  if (!existsSync(path)) throw usageError('E_FILE_NOT_FOUND', `No such file or folder: ${path}`)
  if (!statSync(path).isDirectory()) return [path]
  return readdirSync(path)
    .filter((name) => /\.(json|ndjson|ndjson\.gz)$/.test(name))
    .sort()
    .map((name) => join(path, name))
}

function collect(paths: readonly string[]): Inputs {
  const inputs: Inputs = {claims: [], attestations: new Map(), supporting: new Map(), rejected: 0}
  const take = (value: unknown, file: string): void => {
    if (isAttestation(value)) {
      const key = claimKey(value.claim)
      if (!inputs.attestations.has(key)) inputs.attestations.set(key, {attestation: value, file})
      return
    }
    const resource = value as FhirResource | null
    if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
      inputs.rejected++
      return
    }
    if (resource.resourceType === 'Bundle') {
      for (const entry of (Array.isArray(resource.entry) ? resource.entry : []) as Array<{resource?: unknown}>) take(entry?.resource, file)
      return
    }
    if (resource.resourceType === 'Claim') inputs.claims.push({claim: resource, file})
    else {
      const ref = referenceOf(resource)
      if (ref) inputs.supporting.set(ref, resource)
    }
  }
  for (const path of paths) {
    for (const file of listFiles(path)) {
      const raw = readFileSync(file)
      const text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')
      let whole: unknown
      try {
        whole = JSON.parse(text)
      } catch {
        whole = undefined
      }
      if (whole !== undefined) {
        take(whole, file)
        continue
      }
      for (const line of text.split('\n')) {
        if (!line.trim()) continue
        try {
          take(JSON.parse(line), file)
        } catch {
          inputs.rejected++
        }
      }
    }
  }
  // An attestation without a claim of the same key in the input: its own claim is the one verified.
  const plain = new Set(inputs.claims.map((c) => claimKey(c.claim)))
  for (const [key, {attestation, file}] of inputs.attestations) if (!plain.has(key)) inputs.claims.push({claim: attestation.claim, file})
  return inputs
}

export interface VerifyClaimsRequest {
  paths: string[]
  /** Also write the full report (claim ids included) to this file. */
  reportPath?: string
}

/**
 * `claims verify`, under the payer's profile: per claim Verified, NotAttested, Altered (naming
 * what differs), Duplicate (the same claim twice in the input) or NoConsent (the payer has no
 * active HPAYMT consent for the `claims` class of the attested subject). The chain and registry
 * are this profile's own; the files only say what to hash. Audited (one entry per claim).
 */
export async function verifyClaims(session: Session, q: VerifyClaimsRequest): Promise<VerifyClaimsResult> {
  if (q.paths.length === 0) throw usageError('E_MISSING_ARGUMENT', 'Name at least one file or folder of claims.')
  const inputs = collect(q.paths)
  if (inputs.claims.length === 0) throw usageError('E_NO_CLAIMS', 'The input holds no FHIR Claim and no claim attestation.')
  const payer = session.identity().address
  const ctx = await consentContext(session, {write: false})
  const custodian = await registryCustodian(ctx.registry)
  const claims: VerifiedClaim[] = []
  const seen = new Set<string>()
  const consentOf = new Map<string, boolean>()
  for (const {claim, file} of inputs.claims) {
    const key = claimKey(claim)
    const base = {claim: key, file}
    const contentKey = `${key}:${resourceHash(claim)}`
    if (seen.has(key) || seen.has(contentKey)) {
      claims.push({...base, status: 'Duplicate', reason: 'The same claim appears more than once in the input.'})
      continue
    }
    seen.add(key)
    seen.add(contentKey)
    const evidence = inputs.attestations.get(key)?.attestation
    const refs = claimReferences(claim)
    const elements = leafHashes(claim)
    const supplied: Record<string, string> = {}
    for (const ref of refs) {
      const resource = inputs.supporting.get(ref)
      if (resource) supplied[ref] = resourceHash(resource)
    }
    let digest: ClaimDigest
    let differs: string[] = []
    if (evidence) {
      digest = evidence.digest
      differs = differingElements(digest.elements, elements)
      for (const [ref, hash] of Object.entries(supplied))
        if (digest.supporting[ref] !== undefined && digest.supporting[ref] !== hash) differs.push(ref)
    } else {
      const missing = refs.filter((ref) => supplied[ref] === undefined)
      digest = {elements, supporting: supplied}
      if (missing.length > 0) {
        // Without the attestation file, the hash needs every supporting resource: try without them
        // (the custodian may not have resolved them), else say which are missing.
        const found = await attestationOf(ctx.registry, claimHashOf(digest))
        if (!found) {
          claims.push({
            ...base,
            status: 'NotAttested',
            missing,
            reason: 'No attestation file for this claim and supporting resources missing.',
          })
          continue
        }
      }
    }
    const claimHash = claimHashOf(digest)
    const onChain = await attestationOf(ctx.registry, claimHash)
    if (!onChain) {
      claims.push({
        ...base,
        status: 'NotAttested',
        claimHash,
        reason: evidence
          ? "The attestation file's hash is not on this registry (never attested, or the file was altered)."
          : 'No attestation of this claim on this registry.',
      })
      continue
    }
    const attested = {claimHash, subject: onChain.subject, attestedAt: onChain.attestedAt}
    if (onChain.payer.toLowerCase() !== payer.toLowerCase()) {
      claims.push({...base, ...attested, status: 'NotAttested', reason: 'The claim is attested for another payer.'})
      continue
    }
    if (evidence) {
      // The file must be the custodian's: its signature, rebuilt from this profile's chain id,
      // registry and payer and the hash of the file's digest, must recover to custodian().
      const value = (evidence as {signature?: {value?: unknown}}).signature?.value
      const signer =
        typeof value === 'string'
          ? claimAttestationSigner({
              claimHash,
              subject: onChain.subject,
              payer,
              chainId: ctx.chainId,
              registry: ctx.address,
              signature: value,
            })
          : undefined
      if (signer !== custodian) {
        const signature = typeof value === 'string' ? 'invalid' : 'missing'
        claims.push({
          ...base,
          ...attested,
          status: 'NotAttested',
          signature,
          reason:
            signature === 'missing'
              ? 'The attestation file carries no custodian signature.'
              : `The attestation file's signature is not the registry custodian's (${custodian}) for this chain, registry and payer.`,
        })
        continue
      }
    }
    const signature = evidence ? {signature: 'valid' as const} : {}
    if (differs.length > 0) {
      claims.push({...base, ...attested, ...signature, status: 'Altered', differs})
      continue
    }
    let permitted = consentOf.get(onChain.subject)
    if (permitted === undefined) {
      permitted =
        (await checkConsent(ctx.registry, {subject: onChain.subject, grantee: payer, purpose: 'HPAYMT', classes: ['claims']})).decision ===
        'Permit'
      consentOf.set(onChain.subject, permitted)
    }
    claims.push({
      ...base,
      ...attested,
      ...signature,
      status: permitted ? 'Verified' : 'NoConsent',
      ...(permitted ? {} : {reason: 'No active HPAYMT consent for the claims class of this patient.'}),
    })
  }

  const summary: Record<VerifyStatus, number> = {Verified: 0, NotAttested: 0, Altered: 0, Duplicate: 0, NoConsent: 0}
  for (const c of claims) summary[c.status]++
  const exitCode: ExitCodeValue =
    summary.Altered + summary.NotAttested + summary.Duplicate > 0
      ? ExitCode.VERIFY_FAILED
      : summary.NoConsent > 0
        ? ExitCode.DENIED
        : ExitCode.OK
  const checkedAgainst = {registry: ctx.address, chainId: ctx.chainId, block: ctx.head, payer, custodian}

  // The report under the home holds hashes, codes and element paths only (no claim ids or file names).
  const stamp = new Date().toISOString().replaceAll(':', '-')
  const report = q.reportPath ?? join(session.paths.reportsDir, `claims-verify-${stamp}.json`)
  const homeReport = {
    checkedAgainst,
    summary,
    rejectedInputs: inputs.rejected,
    claims: claims.map((c, i) => ({
      n: i + 1,
      claim: `sha256:${sha256Hex(c.claim).slice(0, 16)}`,
      status: c.status,
      ...(c.claimHash ? {claimHash: c.claimHash} : {}),
      ...(c.signature ? {signature: c.signature} : {}),
      ...(c.differs ? {differs: c.differs.map((d) => (d.startsWith('Claim') ? d : (d.split('/')[0] as string)))} : {}),
    })),
  }
  if (!q.reportPath) ensurePrivateDir(session.paths.reportsDir)
  writeFileAtomic(
    report,
    `${JSON.stringify(q.reportPath ? {checkedAgainst, summary, rejectedInputs: inputs.rejected, claims} : homeReport, null, 2)}\n`,
  )

  const audits: SessionAuditInput[] = claims.map((c) => ({
    type: 'consent-decision',
    action: 'E',
    outcome: c.status === 'Verified' ? 'success' : c.status === 'NoConsent' ? 'denied' : 'failure',
    ...(c.status === 'Verified' ? {} : {reason: c.status}),
    ...(c.subject ? {subject: c.subject} : {}),
    classes: ['claims'],
    purpose: 'HPAYMT',
    detail: {kind: 'claim-verify', status: c.status, ...(c.claimHash ? {claimHash: c.claimHash} : {})},
  }))
  await recordAuditBatch(session, audits)
  return {checkedAgainst, claims, summary, report, exitCode}
}
