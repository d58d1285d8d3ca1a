import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {MedctlError, usageError} from '../cli/errors.js'
import {checkConsent, registryContract} from '../consent/index.js'
import type {Session} from '../config/session.js'
import {DEFAULT_QUASI_IDENTIFIERS, GENDER, ZIP3, birthYearBand, deidentifyCohort, loadBuiltinRules, loadRulesFile, type CohortPatient, type QuasiIdentifier} from '../deid/index.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import {EmbeddedStore} from '../ipfs/index.js'
import type {CustodianContext} from '../vault/custodian.js'
import {mergeResources, readObject} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import {buildManifest, signManifest, type ManifestFile} from './manifest.js'
import {writeDataset, writeManifest, type DatasetFormat} from './dataset.js'

/** Classes a research export asks for by default: the clinical record without free-text notes and claims. */
export const DEFAULT_RESEARCH_CLASSES: DataClass[] = ['demographics', 'encounters', 'conditions', 'medications', 'allergies', 'labs', 'vitals', 'procedures', 'immunizations']

export interface ResearchOptions {
  grantee: string
  classes?: DataClass[]
  outDir: string
  format: DatasetFormat
  rules: string
  k: number
  quasiIdentifiers?: string[]
  atBlock?: number
  keyFile?: string
  force?: boolean
  onProgress?: (event: {phase: string; done: number; total?: number; unit: string}) => void
}

export interface Excluded {
  noConsent: number
  revoked: number
  expired: number
  optedOut: number
  classNotCovered: number
  other: number
}

export interface ResearchResult {
  outDir: string
  format: DatasetFormat
  block: number
  classes: DataClass[]
  cohort: {included: number; excluded: Excluded}
  suppressed: number
  maxRisk: number
  files: ManifestFile[]
  manifest: string
  keyFile: boolean
}

const REASON_BUCKET: Record<string, keyof Excluded> = {NoConsent: 'noConsent', Revoked: 'revoked', Expired: 'expired', OptedOut: 'optedOut', ClassNotCovered: 'classNotCovered'}

export function parseQuasiIdentifiers(names: string[] | undefined): readonly QuasiIdentifier[] {
  if (!names || names.length === 0) return DEFAULT_QUASI_IDENTIFIERS
  return names.map((name) => {
    const band = /^birth-year(?:-band)?(?::(\d+))?$/.exec(name)
    if (band) return birthYearBand(band[1] ? Number(band[1]) : 10)
    if (name === 'gender') return GENDER
    if (name === 'zip3') return ZIP3
    throw usageError('E_BAD_QUASI_IDENTIFIER', `Unknown quasi-identifier "${name}": use birth-year[:WIDTH], gender, zip3.`)
  })
}

function exportKey(keyFile: string | undefined): Uint8Array {
  if (!keyFile) return randomBytes(32)
  const hex = readFileSync(keyFile, 'utf8').trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw usageError('E_BAD_KEY_FILE', 'The key file must hold 64 hex digits (32 bytes).')
  return Buffer.from(hex, 'hex')
}

/**
 * The cohort is every patient whose decision for (researcher, HRESCH, requested classes) is Permit
 * at the pinned block; Deny always wins. Demographics are always requested: the quasi-identifiers
 * come from them. Records are decrypted in memory only, de-identified, k-anonymised and written
 * with a manifest signed by the custodian. Same inputs, rules, block and key: identical bytes.
 */
export async function exportResearch(session: Session, custodian: CustodianContext, options: ResearchOptions): Promise<ResearchResult> {
  if (existsSync(options.outDir) && readdirSync(options.outDir).length > 0 && !options.force) {
    throw usageError('E_OUT_NOT_EMPTY', `${options.outDir} is not empty.`, ['Choose an empty directory, or pass --force to overwrite.'])
  }
  const rules = options.rules === 'safe-harbor' ? loadBuiltinRules('safe-harbor') : loadRulesFile(options.rules)
  const quasiIdentifiers = parseQuasiIdentifiers(options.quasiIdentifiers)
  const key = exportKey(options.keyFile)
  const provider = await session.chainProvider()
  const block = options.atBlock ?? (await provider.getBlockNumber())
  const blockInfo = await provider.getBlock(block)
  if (!blockInfo) throw new MedctlError('E_NO_BLOCK', `Block ${block} does not exist on this chain.`, {exitCode: 2})
  const blockTime = new Date(blockInfo.timestamp * 1000).toISOString()
  const registryAddress = session.registry()
  const registry = registryContract(registryAddress, provider)
  const classes = DATA_CLASSES.filter((c) => c === 'demographics' || (options.classes ?? DEFAULT_RESEARCH_CLASSES).includes(c))
  const index = new RecordIndex(custodian.db, custodian.address)
  const store = new EmbeddedStore(custodian.db)
  const excluded: Excluded = {noConsent: 0, revoked: 0, expired: 0, optedOut: 0, classNotCovered: 0, other: 0}
  const patients: CohortPatient[] = []
  const subjects = index.subjects()
  for (const [n, {subject}] of subjects.entries()) {
    options.onProgress?.({phase: 'selecting cohort', done: n + 1, total: subjects.length, unit: 'patients'})
    const decision = await checkConsent(registry, {subject, grantee: options.grantee, purpose: 'HRESCH', classes, blockTag: block})
    if (decision.decision !== 'Permit') {
      excluded[REASON_BUCKET[decision.reason] ?? 'other']++
      continue
    }
    const parts = []
    for (const object of index.objects({subject, classes})) {
      const envelope = index.envelope(object.cid, custodian.recipient)
      if (!envelope) throw new MedctlError('E_KEY_MISSING', `No key envelope for object ${object.cid}.`, {exitCode: 4})
      parts.push(await readObject(store, object, envelope, custodian.ageIdentity))
    }
    patients.push({resources: mergeResources(parts)})
  }
  const deidentified = deidentifyCohort({patients, rules, key, k: options.k, quasiIdentifiers, referenceDate: blockTime.slice(0, 10), onProgress: (done, total) => options.onProgress?.({phase: 'de-identifying', done, total, unit: 'patients'})})
  const files = await writeDataset({patients: deidentified.patients, format: options.format, outDir: options.outDir})
  const manifest = await signManifest(
    buildManifest({
      chainId: session.profile.chain.chainId,
      contract: registryAddress,
      block,
      format: options.format,
      cohort: {included: deidentified.patients.length, excluded: {...excluded, kAnonymitySuppressed: deidentified.kanon.suppressed}},
      rules,
      kanon: deidentified.kanon,
      files,
      createdAt: blockTime,
      exporter: custodian.address,
    }),
    (bytes) => custodian.wallet.signMessage(bytes),
  )
  const manifestPath = await writeManifest(options.outDir, manifest)
  return {
    outDir: options.outDir,
    format: options.format,
    block,
    classes,
    cohort: {included: patients.length, excluded},
    suppressed: deidentified.kanon.suppressed,
    maxRisk: deidentified.kanon.maxRisk,
    files,
    manifest: manifestPath,
    keyFile: Boolean(options.keyFile),
  }
}
