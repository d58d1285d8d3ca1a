import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {exportNetwork, type ExportNetworkResult} from '../../lib/app/network.js'

export default class NetworkExport extends BaseCommand<typeof NetworkExport> {
  static override summary = 'Write the network descriptor other organisations join with (`medctl init --join`).'
  static override description = `The descriptor ("medctl.network.v1") names the chain id, the RPC URL (for the embedded chain, the node's current URL), the ConsentRegistry, the block it was deployed in, its custodian and the shared content store (a Kubo RPC URL) if the profile has one — each read from the chain, not from the profile alone. Nothing secret: no key, no pseudonym key, no index. Run it in the custodian's home and hand the file to each member; they check it against the chain when they join.

Exit codes: 0 ok, 1 failure (E_RPC_UNAVAILABLE), 2 usage error (E_NO_REGISTRY, E_BAD_OUT), 4 the profile's chain answers with another chain id (E_NETWORK_MISMATCH).`

  static override examples = [
    '<%= config.bin %> network export --out network.json',
    '<%= config.bin %> network export --out network.json --name st-mary --rpc-url https://rpc.consortium.example',
    '<%= config.bin %> network export --json | jq .result.descriptor',
  ]

  static override flags = {
    profile: profileFlag,
    out: Flags.string({
      description: 'Write the descriptor to this file (mode 0644: nothing in it is secret). Without it, it is only printed.',
    }),
    name: Flags.string({description: 'A name for the network, shown to members (`profile show`).'}),
    'rpc-url': Flags.string({
      description: 'The RPC URL members should use, if not the one this profile uses (e.g. a public endpoint of the consortium chain).',
    }),
    'rpc-timeout': rpcTimeoutFlag,
  }

  /** Reads the chain, writes only the named output file: no writer lock on the home. */
  static override writesHome = false

  async run(): Promise<ExportNetworkResult> {
    const session = this.openSession(this.flags.profile)
    const result = await exportNetwork(session, {
      ...(this.flags.out ? {out: this.flags.out} : {}),
      ...(this.flags.name ? {name: this.flags.name} : {}),
      ...(this.flags['rpc-url'] ? {rpcUrl: this.flags['rpc-url']} : {}),
    })
    for (const note of result.notes) this.warn(note)
    const d = result.descriptor
    if (result.file) this.log(`Network descriptor written to ${result.file}.`)
    else this.log(JSON.stringify(d, null, 2))
    if (result.file) {
      this.log(
        renderFields({
          ...(d.name ? {name: d.name} : {}),
          chainId: d.chainId,
          rpcUrl: d.rpcUrl,
          registry: d.registry,
          deployedBlock: d.deployedBlock,
          custodian: d.custodian,
          store: d.store ? `kubo ${d.store.url}` : 'none shared (CAR files)',
        }),
      )
      this.log('Members join with: medctl init --join network.json  (then send you their registration for `medctl network admit`)')
    }
    return result
  }
}
