import {mkdirSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {nodeStatus, stopNode} from '../chain/local-node.js'
import {resolvePaths, type MedctlPaths} from '../config/paths.js'
import {initLocal} from '../app/setup.js'
import {Keystore} from '../config/keystore.js'
import {closeDatabases, openDatabase} from '../db/database.js'
import {importRecords} from '../vault/import.js'
import {listRecords} from '../vault/read.js'
import {fileURLToPath} from 'node:url'
import {join as joinPath} from 'node:path'
import {fetchPackage, sharePatient, summarizePackage} from '../access/index.js'
import {anchorLog, chainAnchors, publishAuditLog, resolveTrust, verifyLog, verifyLogRef} from '../audit/index.js'
import {admitRegistration, exportNetwork, joinNetwork} from '../app/network.js'
import {receiveExport} from '../export/delivery.js'
import {openContentStore} from '../ipfs/index.js'
import {recordAudit} from '../audit/record.js'
import {openEmergencyAccess} from '../consent/actions.js'
import {granteeAddress} from '../consent/context.js'
import {grantConsent, type GrantedConsent} from '../consent/grant.js'
import {revokeConsents} from '../consent/revoke.js'
import {summarizePatient} from '../vault/use-cases.js'
import type {Purpose} from '../consent/index.js'
import {Session} from '../session/session.js'
import type {DataClass} from '../fhir/data-classes.js'
import {exportResearch} from '../export/research.js'
import {custodianContext} from '../vault/custodian.js'

/** The passphrase of the throw-away demo identities when MEDCTL_PASSPHRASE is not set. */
export const DEMO_PASSPHRASE = 'medctl-demo-passphrase'

export interface DemoStep {
  step: string
  detail: string
  data?: Record<string, unknown>
}

export interface DemoOptions {
  /** The home the demo runs in; it is wiped first (it belongs to the demo alone). */
  home: string
  passphrase: string
  keepNode: boolean
  onStep?: (step: DemoStep) => void
}

/** The four organisations of the demo, each in a home of its own under the demo directory. */
export type DemoParty = 'hospital' | 'clinic' | 'lab' | 'auditor'
export const DEMO_PARTIES: readonly DemoParty[] = ['hospital', 'clinic', 'lab', 'auditor']

export interface DemoResult {
  /** The demo directory: a home per party, and `exchange/` for what travels between them. */
  home: string
  homes: Record<DemoParty, string>
  exchange: string
  steps: DemoStep[]
  nodeStopped: boolean
}

/** The bundled Synthea sample bundles (same path from src/ and dist/). */
export const SAMPLES_DIR = fileURLToPath(new URL('../../../data/samples/synthea-r4', import.meta.url))

export interface DemoContext {
  /** The hospital's (custodian's) home. */
  paths: MedctlPaths
  /** Every party's home. */
  homes: Record<DemoParty, MedctlPaths>
  /** The folder standing for what the parties send each other: the network descriptor, registrations, CAR files. */
  exchange: string
  passphrase: () => Promise<string>
  record(step: DemoStep): void
  /** A session on a profile of one party's home (the hospital's by default). */
  session(profile: string, party?: DemoParty): Session
  /** Each party's address, once it has keys. */
  addresses: Partial<Record<DemoParty, string>>
  /** The sample patients, as system|value, in a fixed order. */
  patients: string[]
}

/**
 * The main job end to end on the embedded defaults. Each capability adds its act to ACTS, in story
 * order; every act calls the same services the commands call.
 */
const ACTS: Array<(ctx: DemoContext) => Promise<void>> = [
  async (ctx) => {
    const init = await initLocal(ctx.paths, ctx.passphrase)
    ctx.record({
      step: 'init',
      detail: `custodian profile "local" with address ${init.address} (age recipient ${init.recipient})`,
      data: {...init},
    })
    const status = await nodeStatus(ctx.paths)
    ctx.record({
      step: 'node',
      detail: `embedded anvil node at ${status.rpcUrl}, chain ${status.chainId}, block ${status.blockNumber}`,
      data: {...status},
    })
  },
  async (ctx) => {
    const local = ctx.session('local')
    ctx.addresses.hospital = local.identity().address
    const descriptor = join(ctx.exchange, 'network.json')
    const exported = await exportNetwork(local, {name: 'demo', out: descriptor})
    ctx.record({
      step: 'network',
      detail: `the hospital writes the network descriptor (chain ${exported.descriptor.chainId}, registry ${exported.descriptor.registry}, custodian ${exported.descriptor.custodian}; nothing secret) to ${descriptor}`,
      data: {...exported.descriptor},
    })
    for (const party of ['clinic', 'lab', 'auditor'] as const) {
      const registrationOut = join(ctx.exchange, `registration-${party}.json`)
      const joined = await joinNetwork(ctx.homes[party], ctx.passphrase, {file: descriptor, name: party, registrationOut})
      ctx.addresses[party] = joined.address
      // The clinic and the lab receive encrypted releases: the hospital relays their signed key registrations (it pays the gas).
      const admitted = party === 'auditor' ? undefined : await admitRegistration(local, registrationOut)
      ctx.record({
        step: 'join',
        detail: `the ${party} joins from the descriptor in a home of its own (${ctx.homes[party].home}): its own keys (${joined.address}), no pseudonym key, no node, balance ${joined.balanceWei} wei${admitted ? '; the hospital relays its signed registration, so its age recipient is in the on-chain key directory' : ''}`,
        data: {
          party,
          home: ctx.homes[party].home,
          address: joined.address,
          role: joined.role,
          balanceWei: joined.balanceWei,
          admitted: admitted?.status ?? null,
        },
      })
    }
  },
  async (ctx) => {
    const identity = await new Keystore(ctx.paths).unlock('local', await ctx.passphrase())
    const custodian = {
      db: openDatabase(ctx.paths),
      address: identity.address,
      recipient: identity.recipient,
      ageIdentity: identity.ageIdentity,
      pseudonymKey: identity.pseudonymKey as Buffer,
      wallet: identity.wallet,
    }
    const imported = await importRecords({db: custodian.db, custodian, sources: [SAMPLES_DIR]})
    await recordAudit(ctx.session('local'), {
      type: 'import',
      action: 'C',
      outcome: 'success',
      detail: {
        read: imported.read,
        imported: imported.imported,
        rejected: imported.rejected,
        patients: imported.patients,
        objects: imported.objects,
      },
    })
    ctx.record({
      step: 'import',
      detail: `${imported.read} FHIR resources from 8 Synthea bundles: ${imported.imported} imported into ${imported.objects} age-encrypted objects for ${imported.patients} patients, ${imported.duplicates} duplicates skipped, ${imported.rejected} rejected (read = imported + duplicates + rejected)`,
      data: {...imported},
    })
    const listed = await listRecords(custodian, {})
    const first = listed.patients[0]
    ctx.record({
      step: 'records',
      detail: `patients are stored by pseudonym only, e.g. ${first?.subject.slice(0, 18)}… with classes ${first?.classes.join(', ')}`,
      data: {patients: listed.patients.length},
    })
    const {summary} = await summarizePatient(ctx.session('local'), {patient: ctx.patients[0] as string})
    ctx.record({
      step: 'emergency',
      detail: `the emergency summary of patient 1 (IPS shape): ${summary.allergies.length} allergies, ${summary.medications.length} active medications, ${summary.conditions.length} active conditions, blood group ${summary.bloodGroup?.value ?? 'not recorded'}, ${summary.vitals.length} latest vital signs`,
      data: {
        allergies: summary.allergies.length,
        medications: summary.medications.length,
        conditions: summary.conditions.length,
        vitals: summary.vitals.length,
        bloodGroup: summary.bloodGroup?.value ?? null,
      },
    })
  },
  async (ctx) => {
    const local = ctx.session('local')
    const custodian = await custodianContext(local)
    const clinicAddress = ctx.addresses.clinic as string
    const grant = await demoGrant(local, ctx.patients[0] as string, clinicAddress, ['TREAT'], ['labs', 'conditions'], '30d')
    ctx.record({
      step: 'grant',
      detail: `patient 1 grants the clinic TREAT access to labs and conditions for 30 days: consent ${grant.consentId} (${grant.gasUsed} gas; on chain only the pseudonym)`,
      data: {...grant},
    })
    const car = joinPath(ctx.exchange, 'clinic-package.car')
    const shared = await sharePatient(local, custodian, {
      patient: ctx.patients[0] as string,
      grantee: clinicAddress,
      purpose: 'TREAT',
      out: car,
    })
    ctx.record({
      step: 'share',
      detail: `the hospital checks the chain and releases ${shared.objects} object keys (${shared.classes.join(', ')}) to the clinic: access package ${shared.packageCid} and its encrypted objects in ${car}`,
      data: {...shared},
    })
    const clinic = ctx.session('clinic', 'clinic')
    const out = joinPath(ctx.homes.clinic.home, 'received.json')
    const {pkg: _pkg, ...fetched} = await fetchPackage(clinic, {ref: car, out})
    ctx.record({
      step: 'fetch',
      detail: `the clinic, in its own home, checks every block of the CAR file, asks the chain again and decrypts exactly the granted classes: ${fetched.resources} resources written to ${out}`,
      data: {...fetched},
    })
    const revoked = await revokeConsents(local, {consentId: grant.consentId})
    ctx.record({
      step: 'revoke',
      detail: `the patient revokes consent ${grant.consentId} (${revoked.revoked[0]?.gasUsed} gas); revocation is final`,
      data: {...revoked},
    })
    try {
      await sharePatient(local, custodian, {
        patient: ctx.patients[0] as string,
        grantee: clinicAddress,
        purpose: 'TREAT',
        out: joinPath(ctx.exchange, 'refused.car'),
      })
      throw new Error('the share after a revoke was not refused')
    } catch (error) {
      const denied = error as {code?: string; decision?: {decision: string; reason: string}; subject?: string}
      if (denied.code !== 'E_ACCESS_DENIED') throw error
      ctx.record({
        step: 'refused',
        detail: `a new share is refused: ${denied.decision?.decision} (${denied.decision?.reason}); no key released, the attempt is in the audit log`,
        data: {...denied.decision},
      })
    }
    // The emergency room: break-glass opens the emergency summary's classes, and only those.
    const opened = await openEmergencyAccess(local, {
      patient: ctx.patients[0] as string,
      grantee: clinicAddress,
      reason: 'demo: unconscious on arrival',
      hours: 4,
    })
    const emergencyCar = joinPath(ctx.exchange, 'emergency-package.car')
    const emergency = await sharePatient(local, custodian, {
      patient: ctx.patients[0] as string,
      grantee: clinicAddress,
      purpose: 'BTG',
      out: emergencyCar,
    })
    const {summary, package: received} = await summarizePackage(clinic, {ref: emergencyCar})
    ctx.record({
      step: 'break-glass',
      detail: `break-glass ${opened.accessId.slice(0, 10)}… for the clinic until ${new Date(opened.until * 1000).toISOString()}: the hospital releases ${emergency.classes.join(', ')} only (${emergency.withheld.length} classes withheld); the clinic's own medctl shows the emergency summary: ${summary.allergies.length} allergies, ${summary.medications.length} active medications, ${summary.conditions.length} active conditions, blood group ${summary.bloodGroup?.value ?? 'not recorded'} — flagged BreakGlass in both audit logs, waiting for review`,
      data: {
        accessId: opened.accessId,
        classes: emergency.classes,
        withheld: emergency.withheld.length,
        breakGlass: received.breakGlass,
        allergies: summary.allergies.length,
        medications: summary.medications.length,
        conditions: summary.conditions.length,
        bloodGroup: summary.bloodGroup?.value ?? null,
      },
    })
  },
  async (ctx) => {
    const local = ctx.session('local')
    const classes: DataClass[] = ['demographics', 'conditions', 'labs', 'vitals', 'immunizations']
    const labAddress = ctx.addresses.lab as string
    for (const patient of ctx.patients.slice(0, 5)) await demoGrant(local, patient, labAddress, ['HRESCH'], classes, '365d')
    const out = joinPath(ctx.paths.home, 'research-export')
    const car = joinPath(ctx.exchange, 'research-export.car')
    const result = await exportResearch(local, await custodianContext(local), {
      grantee: labAddress,
      classes,
      outDir: out,
      format: 'csv',
      rules: 'safe-harbor',
      k: 1,
      deliverTo: labAddress,
      deliverOut: car,
    })
    ctx.record({
      step: 'export',
      detail: `research export for the lab: ${result.cohort.included} consenting patients (excluded: ${Object.entries(
        result.cohort.excluded,
      )
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ')}), Safe Harbor de-identified, CSV tables and a signed manifest, delivered encrypted to the lab's key in ${car}`,
      data: {...result},
    })
    const lab = ctx.session('lab', 'lab')
    const received = joinPath(ctx.homes.lab.home, 'research-export')
    const verified = await receiveExport(lab, {
      ref: car,
      out: received,
      roots: {provider: await lab.chainProvider(), registry: lab.registry()},
    })
    ctx.record({
      step: 'verify',
      detail: `the lab, in its own home, decrypts the delivery with its own key and checks it: manifest signed by ${verified.signer} (its registry's custodian), ${verified.files.filter((f) => f.status === 'ok').length} of ${verified.files.length} files intact, written to ${received}`,
      data: {...verified},
    })
    if (!verified.ok) throw new Error(`export verification failed: ${verified.problem}`)
  },
  async (ctx) => {
    const local = ctx.session('local')
    const anchored = await anchorLog(local)
    const verified = verifyLog(ctx.paths.auditDir, await chainAnchors(local), local.identity().address)
    ctx.record({
      step: 'audit',
      detail: `${verified.entries} audit entries; tree head ${anchored.root.slice(0, 18)}… anchored in block ${anchored.blockNumber}; audit verify: ${verified.ok ? 'intact' : `FAILED at ${verified.firstBadIndex}`}`,
      data: {...verified},
    })
    if (!verified.ok) throw new Error(`audit verification failed: ${verified.problem}`)
    const car = joinPath(ctx.exchange, 'audit-log.car')
    await publishAuditLog(ctx.paths.auditDir, {out: car, store: () => openContentStore(local)})
    const auditor = ctx.session('auditor', 'auditor')
    const checked = await verifyLogRef({kind: 'car', path: car}, () => resolveTrust({}, () => auditor))
    ctx.record({
      step: 'auditor',
      detail: `the auditor, in its own home, verifies the published log ${car} against the anchors of its own registry: ${checked.ok ? `intact, root ${checked.root.slice(0, 18)}… (${checked.root === verified.root ? "the hospital's" : "NOT the hospital's"})` : `FAILED: ${checked.problem}`}`,
      data: {...checked},
    })
    if (!checked.ok || checked.root !== verified.root)
      throw new Error(`the auditor's verification failed: ${checked.problem ?? 'another root'}`)
  },
]

async function demoGrant(session: Session, patient: string, grantee: string, purposes: Purpose[], classes: DataClass[], until: string) {
  const outcome = await grantConsent(session, {patient, grantee: granteeAddress(session, grantee), purposes, classes, until})
  const first = outcome.consents[0] as GrantedConsent
  return {...first, subject: outcome.subject, grantee: outcome.grantee}
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const homes = Object.fromEntries(
    DEMO_PARTIES.map((party) => [party, resolvePaths({env: {MEDCTL_HOME: join(options.home, party)}})]),
  ) as Record<DemoParty, MedctlPaths>
  const paths = homes.hospital
  // A demo of an earlier version ran its chain from the demo directory itself.
  await stopNode(resolvePaths({env: {MEDCTL_HOME: options.home}}))
  await stopNode(paths)
  rmSync(options.home, {recursive: true, force: true})
  const exchange = join(options.home, 'exchange')
  for (const party of DEMO_PARTIES) mkdirSync(homes[party].home, {recursive: true, mode: 0o700})
  mkdirSync(exchange, {recursive: true})
  const steps: DemoStep[] = []
  const sessions: Session[] = []
  const ctx: DemoContext = {
    paths,
    homes,
    exchange,
    passphrase: async () => options.passphrase,
    record(step) {
      steps.push(step)
      options.onStep?.(step)
    },
    session(profile, party = 'hospital') {
      const session = new Session(homes[party], profile, async () => options.passphrase)
      sessions.push(session)
      return session
    },
    addresses: {},
    patients: samplePatients(),
  }
  try {
    for (const act of ACTS) await act(ctx)
  } finally {
    for (const session of sessions) session.close()
    closeDatabases()
    if (!options.keepNode) await stopNode(paths)
  }
  return {
    home: options.home,
    homes: Object.fromEntries(DEMO_PARTIES.map((p) => [p, homes[p].home])) as Record<DemoParty, string>,
    exchange,
    steps,
    nodeStopped: !options.keepNode,
  }
}

/** The MRN (system|value) of each bundled sample patient, sorted by file name. */
function samplePatients(): string[] {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.endsWith('.json') && !/Information/.test(f))
    .sort()
    .map((file) => {
      const bundle = JSON.parse(readFileSync(joinPath(SAMPLES_DIR, file), 'utf8')) as {
        entry: Array<{
          resource: {resourceType: string; identifier?: Array<{system?: string; value?: string; type?: {coding?: Array<{code?: string}>}}>}
        }>
      }
      const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient')?.resource
      const mrn = patient?.identifier?.find((i) => i.type?.coding?.some((c) => c.code === 'MR'))
      return `${mrn?.system}|${mrn?.value}`
    })
}

export function defaultDemoHome(base: {medctlHome?: string; dataDir: string}): string {
  return join(base.medctlHome ?? base.dataDir, 'demo')
}
