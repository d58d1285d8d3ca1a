import {BaseCommand} from '../../lib/cli/base-command.js'
import {stopNode, type StopResult} from '../../lib/chain/local-node.js'

export default class NodeStop extends BaseCommand<typeof NodeStop> {
  static override summary = 'Stop the embedded node, saving its state under MEDCTL_HOME.'
  static override description = `Dumps the chain state atomically and stops anvil. The next start restores every mined block.

Exit codes: 0 ok (also when it was not running), 1 failure.`

  static override examples = ['<%= config.bin %> node stop', '<%= config.bin %> node stop --json']

  async run(): Promise<StopResult> {
    const result = await stopNode(this.paths)
    this.log(result.wasRunning ? 'Node stopped; state saved.' : 'The node was not running.')
    return result
  }
}
