import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {nodeStatus, stopNode} from '../chain/local-node.js'
import {resolvePaths, type MedctlPaths} from '../config/paths.js'
import {initLocal} from '../config/setup.js'
import {Keystore} from '../config/keystore.js'
import {closeDatabases, openDatabase} from '../vault/database.js'
import {importRecords} from '../vault/import.js'
import {listRecords} from '../vault/read.js'
import {fileURLToPath} from 'node:url'

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

export interface DemoResult {
  home: string
  steps: DemoStep[]
  nodeStopped: boolean
}

/** The bundled Synthea sample bundles (same path from src/ and dist/). */
export const SAMPLES_DIR = fileURLToPath(new URL('../../../data/samples/synthea-r4', import.meta.url))

export interface DemoContext {
  paths: MedctlPaths
  passphrase: () => Promise<string>
  record(step: DemoStep): void
}

/**
 * The main job end to end on the embedded defaults. Each capability adds its act to ACTS, in story
 * order; every act calls the same services the commands call.
 */
const ACTS: Array<(ctx: DemoContext) => Promise<void>> = [
  async (ctx) => {
    const init = await initLocal(ctx.paths, ctx.passphrase)
    ctx.record({step: 'init', detail: `custodian profile "local" with address ${init.address} (age recipient ${init.recipient})`, data: {...init}})
    const status = await nodeStatus(ctx.paths)
    ctx.record({step: 'node', detail: `embedded anvil node at ${status.rpcUrl}, chain ${status.chainId}, block ${status.blockNumber}`, data: {...status}})
  },
  async (ctx) => {
    const identity = await new Keystore(ctx.paths).unlock('local', await ctx.passphrase())
    const custodian = {db: openDatabase(ctx.paths), address: identity.address, recipient: identity.recipient, ageIdentity: identity.ageIdentity, pseudonymKey: identity.pseudonymKey as Buffer, wallet: identity.wallet}
    const imported = await importRecords({db: custodian.db, custodian, sources: [SAMPLES_DIR]})
    ctx.record({
      step: 'import',
      detail: `${imported.read} FHIR resources from 8 Synthea bundles: ${imported.imported} imported into ${imported.objects} age-encrypted objects for ${imported.patients} patients, ${imported.rejected} rejected`,
      data: {...imported},
    })
    const listed = await listRecords(custodian, {})
    const first = listed.patients[0]
    ctx.record({
      step: 'records',
      detail: `patients are stored by pseudonym only, e.g. ${first?.subject.slice(0, 18)}… with classes ${first?.classes.join(', ')}`,
      data: {patients: listed.patients.length},
    })
  },
]

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const paths = resolvePaths({env: {MEDCTL_HOME: options.home}})
  await stopNode(paths)
  rmSync(options.home, {recursive: true, force: true})
  const steps: DemoStep[] = []
  const ctx: DemoContext = {
    paths,
    passphrase: async () => options.passphrase,
    record(step) {
      steps.push(step)
      options.onStep?.(step)
    },
  }
  try {
    for (const act of ACTS) await act(ctx)
  } finally {
    closeDatabases()
    if (!options.keepNode) await stopNode(paths)
  }
  return {home: options.home, steps, nodeStopped: !options.keepNode}
}

export function defaultDemoHome(base: {medctlHome?: string; dataDir: string}): string {
  return join(base.medctlHome ?? base.dataDir, 'demo')
}
