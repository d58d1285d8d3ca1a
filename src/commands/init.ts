import {BaseCommand} from '../lib/cli/base-command.js'
import {initLocal, type InitResult} from '../lib/config/setup.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Create the local custodian profile, its keys and the embedded chain in one step.'
  static override description = `Creates the "local" profile with a new identity (Ethereum key, age identity and pseudonym key, encrypted with your passphrase), starts the embedded anvil node under MEDCTL_HOME and funds the wallet from anvil's development accounts. Running it again reports that medctl is already initialised and exits 0.

The passphrase comes from MEDCTL_PASSPHRASE or a prompt.

Exit codes: 0 ok, 1 failure, 2 usage error (e.g. no passphrase and no terminal).`

  static override examples = [
    '<%= config.bin %> init',
    'MEDCTL_PASSPHRASE=... <%= config.bin %> init --json',
  ]

  async run(): Promise<InitResult> {
    const progress = this.progress()
    const result = await initLocal(this.paths, () => this.passphrase({confirm: true, message: 'New passphrase for the local identity'}), {
      onProgress: (step) => progress.update({phase: step, done: 0}),
    })
    progress.finish()
    if (result.alreadyInitialised) this.log(`medctl is already initialised: profile "${result.profile}" (${result.address}).`)
    else this.log(`Initialised profile "${result.profile}": address ${result.address}, age recipient ${result.recipient}, chain ${result.chainId} at ${result.rpcUrl}.`)
    return result
  }
}
