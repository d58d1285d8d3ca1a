import {BaseCommand} from '../../lib/cli/base-command.js'
import {startNode, type StartResult} from '../../lib/chain/local-node.js'

export default class NodeStart extends BaseCommand<typeof NodeStart> {
  static override summary = 'Start the embedded Ethereum node (anvil) on 127.0.0.1.'
  static override description = `Runs anvil from the npm package @foundry-rs/anvil on a free local port, detached, with its state restored from MEDCTL_HOME. Commands that need the chain start it on demand, so this is rarely needed by hand.

Exit codes: 0 ok (also when it was already running), 1 failure.`

  static override examples = ['<%= config.bin %> node start', '<%= config.bin %> node start --json']

  async run(): Promise<StartResult> {
    const result = await startNode(this.paths)
    this.log(
      result.alreadyRunning
        ? `The node is already running at ${result.rpcUrl}.`
        : `Node started at ${result.rpcUrl} (chain ${result.chainId}${result.restoredState ? ', state restored' : ''}).`,
    )
    return result
  }
}
