import {randomBytes} from 'node:crypto'
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {ExitCode, MedctlError, usageError} from '../core/errors.js'
import {checkConsent} from '../consent/index.js'
import {registryContract} from '../chain/registry.js'
import type {Session} from '../session/session.js'
import {recordAudit} from '../audit/record.js'
import {
  DEFAULT_QUASI_IDENTIFIERS,
  GENDER,
  ZIP3,
  birthYearBand,
  deidentifyCohort,
  loadBuiltinRules,
  loadRulesFile,
  type CohortPatient,
  type FhirResource,
  type QuasiIdentifier,
} from '../deid/index.js'
import {DATA_CLASSES, type DataClass} from '../fhir/data-classes.js'
import {EmbeddedStore} from '../ipfs/index.js'
import type {CustodianContext} from '../vault/custodian.js'
import {mergeResources, readObject} from '../vault/read.js'
import {RecordIndex} from '../vault/record-index.js'
import {buildManifest, signManifest, type ManifestFile} from './manifest.js'
import {checkOutputPath, resolveGrantee, type Grantee} from '../access/index.js'
import {deliverExport, type ExportDelivered} from './delivery.js'
import {tableSchema, tablesFor} from './tables.js'
import {writeDataset, writeManifest, type DatasetFormat} from './dataset.js'

/** Classes a research export asks for by default: the clinical record without free-text notes and claims. */
export const DEFAULT_RESEARCH_CLASSES: DataClass[] = DATA_CLASSES.filter((c) => !['imaging', 'notes', 'claims', 'other'].includes(c))

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
  /** Write the export even when the cohort, or what k-anonymity leaves of it, is empty (else E_EMPTY_COHORT / E_K_SUPPRESSED_ALL, exit 3). */
  allowEmpty?: boolean
  /** Deliver the export to the researcher's age recipient (an address or a local profile name; it must be the grantee). */
  deliverTo?: string
  /** With deliverTo: write the delivery to this CARv1 file instead of the profile's content store. */
  deliverOut?: string
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

export interface ClassCohort {
  /** Patients whose records of this class are in the export (before k-anonymity). */
  included: number
  excluded: Excluded
}

export interface ResearchResult {
  outDir: string
  format: DatasetFormat
  block: number
  classes: DataClass[]
  /**
   * included: patients who contribute at least one requested class (each contributes exactly the
   * classes they granted); excluded: patients who contribute none, by the reason of their decision
   * (a Deny's reason first). byClass: the same, per requested class.
   */
  cohort: {included: number; excluded: Excluded; byClass: Record<string, ClassCohort>}
  /** Human-readable notes the command shows as warnings (k-anonymity suppression, empty export). */
  warnings: string[]
  suppressed: number
  maxRisk: number
  files: ManifestFile[]
  manifest: string
  keyFile: boolean
  /** With deliverTo: the sealed package sent to the lab (its CID, and the CAR file or the store it went to). */
  delivery?: ExportDelivered
}

const REASON_BUCKET: Record<string, keyof Excluded> = {
  NoConsent: 'noConsent',
  Revoked: 'revoked',
  Expired: 'expired',
  OptedOut: 'optedOut',
  ClassNotCovered: 'classNotCovered',
}

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

function emptyExcluded(): Excluded {
  return {noConsent: 0, revoked: 0, expired: 0, optedOut: 0, classNotCovered: 0, other: 0}
}

/**
 * The Patient of someone who granted other classes but not demographics: only what k-anonymity
 * and the joins need (id, gender, birth date, address state and ZIP) — de-identified like any other.
 */
function quasiIdentifierPatient(p: FhirResource): FhirResource {
  const out: FhirResource = {resourceType: 'Patient'}
  if (p.id !== undefined) out.id = p.id
  if (typeof p.gender === 'string') out.gender = p.gender
  if (typeof p.birthDate === 'string') out.birthDate = p.birthDate
  const addresses = Array.isArray(p.address) ? (p.address as Array<Record<string, unknown>>) : []
  const a = addresses
    .map((x) => ({postalCode: x?.postalCode, state: x?.state, country: x?.country}))
    .map((x) => Object.fromEntries(Object.entries(x).filter(([, v]) => typeof v === 'string')))
  if (a.length > 0 && Object.keys(a[0]).length > 0) out.address = [a[0]]
  return out
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
/**
 * The research export as a use case: the export itself, then its audit entry — the outcome, with
 * the cohort, the pinned block and the files; a refused export (empty cohort, all suppressed,
 * anything else) is audited as a failure with its code. With `deliverTo` the export is then
 * delivered, sealed, to the researcher (see deliverExport), audited as a key release.
 */
export async function exportResearch(session: Session, custodian: CustodianContext, options: ResearchOptions): Promise<ResearchResult> {
  const base = {type: 'export', action: 'E', purpose: 'HRESCH', ...(options.classes ? {classes: options.classes} : {})} as const
  let result: ResearchResult
  let lab: Grantee | undefined
  try {
    // The lab's recipient is found before anything is written: a lab with no published key fails first.
    lab = options.deliverTo ? await deliveryTarget(session, options) : undefined
    result = await buildResearchExport(session, custodian, options)
  } catch (error) {
    await recordAudit(session, {
      ...base,
      outcome: 'failure',
      reason: (error as {code?: string}).code ?? 'E_UNEXPECTED',
      detail: {what: 'research', grantee: options.grantee},
    })
    throw error
  }
  await recordAudit(session, {
    ...base,
    outcome: 'success',
    classes: result.classes,
    detail: {
      what: 'research',
      grantee: options.grantee,
      block: result.block,
      included: result.cohort.included,
      suppressed: result.suppressed,
      files: result.files.length,
      format: result.format,
    },
  })
  if (lab) {
    result.delivery = await deliverExport(session, {
      dir: result.outDir,
      files: result.files.map((f) => f.path),
      to: lab,
      custodian: custodian.address,
      classes: result.classes,
      out: options.deliverOut,
    })
  }
  return result
}

/**
 * Who a delivery goes to: the researcher the cohort's consents name, and no one else (a delivery to
 * another address would disclose the export beyond the consents), with the age recipient the key
 * directory holds for them.
 */
async function deliveryTarget(session: Session, options: ResearchOptions): Promise<Grantee> {
  if (options.deliverOut) checkOutputPath(options.deliverOut)
  const lab = await resolveGrantee(
    session,
    options.deliverTo as string,
    registryContract(session.registry(), await session.chainProvider()),
  )
  if (lab.address.toLowerCase() !== options.grantee.toLowerCase()) {
    throw usageError(
      'E_DELIVER_NOT_GRANTEE',
      `--deliver-to names ${lab.address}, but the cohort's consents are for ${options.grantee}: an export is delivered only to the researcher it was made for.`,
    )
  }
  return lab
}

async function buildResearchExport(session: Session, custodian: CustodianContext, options: ResearchOptions): Promise<ResearchResult> {
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
  // What the researcher asked for; demographics always comes along (k-anonymity and the joins need it).
  const asked = options.classes ?? DEFAULT_RESEARCH_CLASSES
  const classes = DATA_CLASSES.filter((c) => c === 'demographics' || asked.includes(c))
  const index = new RecordIndex(custodian.db, custodian.address)
  const store = new EmbeddedStore(custodian.db)
  const read = async (object: {cid: string}): Promise<FhirResource[]> => {
    const envelope = index.envelope(object.cid, custodian.recipient)
    if (!envelope) throw new MedctlError('E_KEY_MISSING', `No key envelope for object ${object.cid}.`, {exitCode: 4})
    return (await readObject(store, object, envelope, custodian.ageIdentity)) as FhirResource[]
  }
  const excluded = emptyExcluded()
  const byClass: Record<string, ClassCohort> = Object.fromEntries(classes.map((c) => [c, {included: 0, excluded: emptyExcluded()}]))
  const patients: CohortPatient[] = []
  const subjects = index.subjects()
  for (const [n, {subject}] of subjects.entries()) {
    options.onProgress?.({phase: 'selecting cohort', done: n + 1, total: subjects.length, unit: 'patients'})
    // One decision per class: each patient contributes exactly the requested classes they granted.
    const decisions = await Promise.all(
      classes.map((c) => checkConsent(registry, {subject, grantee: options.grantee, purpose: 'HRESCH', classes: [c], blockTag: block})),
    )
    const granted = classes.filter((_, i) => decisions[i].decision === 'Permit')
    classes.forEach((c, i) => {
      if (decisions[i].decision === 'Permit') byClass[c].included++
      else byClass[c].excluded[REASON_BUCKET[decisions[i].reason] ?? 'other']++
    })
    if (!granted.some((c) => asked.includes(c))) {
      const why = decisions.find((d) => d.decision === 'Deny') ?? decisions.find((d) => d.decision !== 'Permit') ?? decisions[0]
      excluded[REASON_BUCKET[why.reason] ?? 'other']++
      continue
    }
    const parts: FhirResource[][] = []
    for (const object of index.objects({subject, classes: granted})) parts.push(await read(object))
    if (!granted.includes('demographics')) {
      for (const object of index.objects({subject, classes: ['demographics']})) {
        parts.push((await read(object)).filter((r) => r.resourceType === 'Patient').map(quasiIdentifierPatient))
      }
    }
    patients.push({resources: mergeResources(parts as Parameters<typeof mergeResources>[0]) as FhirResource[]})
  }
  if (patients.length === 0 && !options.allowEmpty) {
    throw new MedctlError(
      'E_EMPTY_COHORT',
      `No patient granted ${options.grantee} research access (HRESCH) to any of ${asked.join(', ')} at block ${block}: nothing was written.`,
      {
        exitCode: ExitCode.PARTIAL,
        details: {block, classes, excluded: {...excluded}, byClass},
        suggestions: [
          'Check the grants with: medctl consent list',
          'Ask for the classes patients granted (--classes), or pass --allow-empty to write an empty export.',
        ],
      },
    )
  }
  // Organisations, practitioners and locations the records point at: their types make the pseudonymised references typed.
  const knownTypes = new Map<string, string>()
  for (const object of index.objects({subject: null}))
    for (const r of await read(object)) if (typeof r.id === 'string') knownTypes.set(r.id, r.resourceType)
  const deidentified = deidentifyCohort({
    patients,
    rules,
    key,
    k: options.k,
    quasiIdentifiers,
    knownTypes,
    referenceDate: blockTime.slice(0, 10),
    onProgress: (done, total) => options.onProgress?.({phase: 'de-identifying', done, total, unit: 'patients'}),
  })
  const warnings: string[] = []
  const {suppressed} = deidentified.kanon
  if (patients.length > 0 && deidentified.patients.length === 0) {
    if (!options.allowEmpty) {
      throw new MedctlError(
        'E_K_SUPPRESSED_ALL',
        `k-anonymity (k=${options.k}) suppressed all ${patients.length} consenting patients: no quasi-identifier class reaches ${options.k}. Nothing was written.`,
        {
          exitCode: ExitCode.PARTIAL,
          details: {block, k: options.k, included: patients.length, suppressed, kAnonymity: deidentified.kanon},
          suggestions: ['Lower --k, coarsen the quasi-identifiers (--quasi-identifiers birth-year:20,gender), or pass --allow-empty.'],
        },
      )
    }
    warnings.push(`k-anonymity (k=${options.k}) suppressed all ${patients.length} consenting patients: the tables are empty.`)
  } else if (suppressed > 0)
    warnings.push(`k-anonymity (k=${options.k}) suppressed ${suppressed} of ${patients.length} consenting patients.`)
  if (patients.length === 0) warnings.push('No patient is in the cohort: the tables are empty (--allow-empty).')
  const files = await writeDataset({patients: deidentified.patients, format: options.format, outDir: options.outDir, classes})
  const manifest = await signManifest(
    buildManifest({
      chainId: session.profile.chain.chainId,
      contract: registryAddress,
      block,
      format: options.format,
      cohort: {
        included: deidentified.patients.length,
        excluded: {...excluded, kAnonymitySuppressed: deidentified.kanon.suppressed},
        byClass: Object.fromEntries(Object.entries(byClass).map(([c, v]) => [c, {included: v.included, excluded: {...v.excluded}}])),
      },
      schema: options.format === 'ndjson' ? undefined : tableSchema(tablesFor(classes)),
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
    cohort: {included: patients.length, excluded, byClass},
    warnings,
    suppressed: deidentified.kanon.suppressed,
    maxRisk: deidentified.kanon.maxRisk,
    files,
    manifest: manifestPath,
    keyFile: Boolean(options.keyFile),
  }
}
