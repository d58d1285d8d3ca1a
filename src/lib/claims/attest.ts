import {existsSync, mkdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {recordAudit} from '../audit/record.js'
import {signClaimAttestation} from '../chain/registry.js'
import {consentContext, granteeAddress} from '../consent/context.js'
import {attestClaim, attestationOf} from '../consent/registry.js'
import {writeFileAtomic} from '../core/atomic.js'
import {MedctlError, usageError} from '../core/errors.js'
import type {FhirResource} from '../fhir/index.js'
import {openContentStore} from '../ipfs/index.js'
import type {Session} from '../session/session.js'
import {custodianContext} from '../vault/custodian.js'
import {showRecords} from '../vault/read.js'
import {claimHashOf, claimKey, claimReferences, leafHashes, referenceOf, resourceHash, type ClaimDigest} from './digest.js'

/**
 * The file the custodian writes for the payer: the Claim, the digest the claim hash commits to
 * (leaf hashes of the Claim, SHA-256 of each supporting resource) and where it was attested. The
 * supporting resources themselves are NOT included: the payer's consent (HPAYMT) covers the
 * `claims` class only; their hashes let the payer check copies it obtains some other way.
 */
export interface ClaimAttestationFile {
  medctl: 'claim-attestation'
  /** 2: signed by the custodian (EIP-712). Files of version 1 carry no signature. */
  v: 2
  chainId: number
  registry: string
  custodian: string
  payer: string
  subject: string
  claimHash: string
  claim: FhirResource
  digest: ClaimDigest
  /** References of the Claim the custodian could not resolve in the patient's record (not committed). */
  unresolved: string[]
  /**
   * The custodian's EIP-712 signature of ClaimAttestation(claimHash, subject, payer) in the
   * registry's domain ("medctl ConsentRegistry", chainId, registry). A verifier rebuilds the typed
   * data from its own chain id, registry and payer address and the hash of the digest, and checks
   * the signer is its registry's custodian(); the fields of this file are never trusted for that.
   */
  signature: {scheme: 'EIP-712'; primaryType: 'ClaimAttestation'; signer: string; value: string}
}

export type AttestStatus = 'Attested' | 'Duplicate'

export interface AttestedClaim {
  claim: string
  status: AttestStatus
  claimHash: string
  supporting: number
  unresolved: string[]
  file: string
  txHash?: string
  /** For a duplicate: when it was first attested (chain time, seconds) and for whom. */
  attestedAt?: number
  attestedFor?: string
}

export interface AttestRequest {
  patient: string
  /** One Claim of the patient's record by id; default every Claim of the record. */
  claimId?: string
  /** A Claim read from this file (it must be about the patient) instead of the record's. */
  file?: string
  /** Payer address, or the name of a local profile. */
  payer: string
  /** Directory the attestation files are written to (created when its parent exists). */
  out: string
}

export interface AttestResult {
  subject: string
  payer: string
  registry: string
  chainId: number
  claims: AttestedClaim[]
  attested: number
  duplicates: number
}

function readClaimFile(path: string): FhirResource {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch {
    throw usageError('E_BAD_CLAIM', 'The --file is not a JSON FHIR Claim.')
  }
  if (!parsed || typeof parsed !== 'object' || (parsed as FhirResource).resourceType !== 'Claim')
    throw usageError('E_BAD_CLAIM', 'The --file is not a FHIR Claim (resourceType "Claim").')
  return parsed as FhirResource
}

function outDirectory(out: string): string {
  const dir = resolve(out)
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw usageError('E_BAD_OUT', '--out must name a directory.')
    return dir
  }
  if (!existsSync(dirname(dir))) throw usageError('E_BAD_OUT', `The folder of --out does not exist.`)
  mkdirSync(dir, {mode: 0o700})
  return dir
}

/**
 * `claims attest`: the custodian reads the patient's Claims from its vault, commits each with its
 * supporting resources to a claim hash, attests it on chain for the payer (once per hash: an
 * already attested claim is reported Duplicate and not sent again), writes the attestation file
 * for the payer and audits each claim. Only the hash, the subject pseudonym and the payer address
 * go on chain.
 */
export async function attestClaims(session: Session, q: AttestRequest): Promise<AttestResult> {
  if (q.claimId && q.file) throw usageError('E_USAGE', 'Name the claim by --claim or --file, not both.')
  const dir = outDirectory(q.out)
  const payer = granteeAddress(session, q.payer)
  const custodian = await custodianContext(session)
  const record = await showRecords(custodian, {patient: q.patient}, openContentStore(session))
  const resources = record.bundle.entry.map((e) => e.resource)
  const byRef = new Map<string, FhirResource>()
  for (const r of resources) {
    const ref = referenceOf(r)
    if (ref) byRef.set(ref, r)
  }
  const patientRef = resources.map(referenceOf).find((ref) => ref?.startsWith('Patient/'))
  let claims: FhirResource[]
  if (q.file) {
    const claim = readClaimFile(q.file)
    const about = (claim.patient as {reference?: unknown} | undefined)?.reference
    if (!patientRef || about !== patientRef)
      throw new MedctlError(
        'E_CLAIM_PATIENT_MISMATCH',
        "The Claim in --file is not about that patient (its Claim.patient is not the patient's record).",
        {exitCode: 2},
      )
    claims = [claim]
  } else {
    claims = resources.filter((r) => r.resourceType === 'Claim' && (!q.claimId || r.id === q.claimId))
    if (claims.length === 0)
      throw new MedctlError(
        'E_CLAIM_NOT_FOUND',
        q.claimId ? "The patient's record has no Claim with that id." : "The patient's record holds no Claim.",
        {exitCode: 2},
      )
  }

  const ctx = await consentContext(session, {write: true})
  const signer = await session.signer()
  const result: AttestResult = {
    subject: record.subject,
    payer,
    registry: ctx.address,
    chainId: ctx.chainId,
    claims: [],
    attested: 0,
    duplicates: 0,
  }
  const seen = new Set<string>()
  for (const claim of claims) {
    const refs = claimReferences(claim)
    const supporting: Record<string, string> = {}
    const unresolved: string[] = []
    for (const ref of refs) {
      const target = byRef.get(ref)
      if (target) supporting[ref] = resourceHash(target)
      else unresolved.push(ref)
    }
    const digest: ClaimDigest = {elements: leafHashes(claim), supporting}
    const claimHash = claimHashOf(digest)
    const file = join(dir, `${claimHash.slice(2, 18)}.claim-attestation.json`)
    const signature = await signClaimAttestation(signer, {
      claimHash,
      subject: record.subject,
      payer,
      chainId: ctx.chainId,
      registry: ctx.address,
    })
    const attestation: ClaimAttestationFile = {
      medctl: 'claim-attestation',
      v: 2,
      chainId: ctx.chainId,
      registry: ctx.address,
      custodian: custodian.address,
      payer,
      subject: record.subject,
      claimHash,
      claim,
      digest,
      unresolved,
      signature: {scheme: 'EIP-712', primaryType: 'ClaimAttestation', signer: custodian.address, value: signature},
    }
    const base = {claim: claimKey(claim), claimHash, supporting: Object.keys(supporting).length, unresolved, file}
    const existing = seen.has(claimHash) ? {payer, attestedAt: 0, subject: record.subject} : await attestationOf(ctx.registry, claimHash)
    if (existing) {
      result.claims.push({
        ...base,
        status: 'Duplicate',
        ...(existing.attestedAt ? {attestedAt: existing.attestedAt} : {}),
        attestedFor: existing.payer,
      })
      result.duplicates++
      if (existing.payer.toLowerCase() === payer.toLowerCase()) writeFileAtomic(file, `${JSON.stringify(attestation, null, 2)}\n`)
      await recordAudit(session, {
        type: 'export',
        action: 'C',
        outcome: 'failure',
        reason: 'E_CLAIM_ALREADY_ATTESTED',
        subject: record.subject,
        classes: ['claims'],
        purpose: 'HPAYMT',
        detail: {kind: 'claim-attestation', claimHash, payer},
      })
      seen.add(claimHash)
      continue
    }
    seen.add(claimHash)
    let sent: Awaited<ReturnType<typeof attestClaim>>
    try {
      sent = await attestClaim(
        ctx.registry,
        {claimHash, subject: record.subject, payer},
        {...ctx.send, confirmations: 1, intent: `attestClaim:${claimHash}`},
      )
    } catch (error) {
      await recordAudit(session, {
        type: 'export',
        action: 'C',
        outcome: 'failure',
        reason: (error as {code?: string}).code ?? 'E_UNEXPECTED',
        subject: record.subject,
        classes: ['claims'],
        purpose: 'HPAYMT',
        detail: {kind: 'claim-attestation', claimHash, payer},
      })
      throw error
    }
    await session.chainWritten()
    writeFileAtomic(file, `${JSON.stringify(attestation, null, 2)}\n`)
    await recordAudit(session, {
      type: 'export',
      action: 'C',
      outcome: 'success',
      subject: record.subject,
      classes: ['claims'],
      purpose: 'HPAYMT',
      detail: {kind: 'claim-attestation', claimHash, payer, txHash: sent.txHash},
    })
    ctx.journal?.finish(sent.txHash)
    result.claims.push({...base, status: 'Attested', txHash: sent.txHash})
    result.attested++
  }
  return result
}
