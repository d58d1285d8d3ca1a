import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/cli/base-command.js'
import {DEMO_PASSPHRASE, defaultDemoHome, runDemo, type DemoResult} from '../lib/demo/index.js'

export default class Demo extends BaseCommand<typeof Demo> {
  static override summary = 'Run the whole story end to end on the embedded defaults, with bundled sample data.'
  static override description = `Creates a fresh demo home (MEDCTL_HOME/demo, or medctl's data dir/demo), initialises the custodian, starts the embedded chain and walks through the capabilities with the bundled Synthea patients. Four organisations each get a home of their own under the demo directory — hospital/ (the custodian, which runs the chain), clinic/, lab/ and auditor/ — and share only the chain and the files in exchange/ (the network descriptor, signed registrations, CAR files). It needs no input and no environment variable: without MEDCTL_PASSPHRASE the demo identities use a fixed demo passphrase, which it tells you. The demo home is wiped at the start of every run and never touches your own profiles.

Exit codes: 0 ok, 1 failure.`

  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --keep-node --json | jq .result.steps']

  static override flags = {
    'keep-node': Flags.boolean({
      description: 'Leave the demo chain running afterwards, to explore with MEDCTL_HOME set to the demo home.',
      default: false,
    }),
  }

  async run(): Promise<DemoResult> {
    const home = defaultDemoHome({medctlHome: process.env.MEDCTL_HOME?.trim() || undefined, dataDir: this.config.dataDir})
    const fromEnv = process.env.MEDCTL_PASSPHRASE
    this.note(`Demo directory: ${home} (a home per organisation, wiped and rebuilt on every run).`)
    if (!fromEnv) this.note(`MEDCTL_PASSPHRASE is not set: the demo identities use the demo passphrase "${DEMO_PASSPHRASE}".`)
    const result = await runDemo({
      home,
      passphrase: fromEnv || DEMO_PASSPHRASE,
      keepNode: this.flags['keep-node'],
      onStep: (step) => this.log(`✔ ${step.step}: ${step.detail}`),
    })
    // A hint that works as written: medctl is not on the PATH after `npm ci` (npx finds it), and
    // outside a terminal the passphrase must come from the environment.
    const env = `MEDCTL_HOME=${result.homes.hospital} MEDCTL_PASSPHRASE=${fromEnv ? '"$MEDCTL_PASSPHRASE"' : DEMO_PASSPHRASE}`
    this.log(
      result.nodeStopped
        ? `Done. Explore it with: ${env} npx medctl records list (the chain restarts on demand).`
        : `Done. The demo chain is still running: ${env} npx medctl node status`,
    )
    return result
  }
}
