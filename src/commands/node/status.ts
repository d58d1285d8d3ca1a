import {BaseCommand} from '../../lib/cli/base-command.js'
import {nodeStatus} from '../../lib/chain/local-node.js'
import {renderFields} from '../../lib/cli/output.js'

export interface NodeStatusResult {
  running: boolean
  rpcUrl: string | null
  chainId: number | null
  blockNumber: number | null
}

export default class NodeStatus extends BaseCommand<typeof NodeStatus> {
  static override summary = 'Show whether the embedded node runs, where, and its latest block.'
  static override description = `Exit codes: 0 ok (running or not), 1 failure.`
  static override examples = ['<%= config.bin %> node status', '<%= config.bin %> node status --json | jq .result.blockNumber']

  async run(): Promise<NodeStatusResult> {
    const status = await nodeStatus(this.paths)
    const result = {running: status.running, rpcUrl: status.rpcUrl, chainId: status.chainId, blockNumber: status.blockNumber}
    this.log(renderFields(result))
    return result
  }
}
