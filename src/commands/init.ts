import {Flags} from '@oclif/core'
import {BaseCommand} from '../lib/cli/base-command.js'
import {rpcTimeoutFlag} from '../lib/cli/flags.js'
import {renderFields} from '../lib/cli/output.js'
import {joinNetwork, type JoinResult} from '../lib/app/network.js'
import {initLocal, type InitResult} from '../lib/app/setup.js'

export default class Init extends BaseCommand<typeof Init> {
  static override summary =
    "Create the local custodian profile, its keys and the embedded chain in one step — or join a custodian's network with --join."
  static override description = `Without --join: creates the "local" profile with a new identity (Ethereum key, age identity and pseudonym key, encrypted with your passphrase), starts the embedded anvil node under MEDCTL_HOME and funds the wallet from anvil's development accounts. Running it again reports that medctl is already initialised and exits 0.

With --join FILE (the descriptor a custodian wrote with \`medctl network export\`): creates a member profile (role "member", --name, default "participant") on that network, with an identity of its own and no pseudonym key. No embedded node is started: the profile's chain is the descriptor's RPC URL and registry. The descriptor is trusted only as far as the chain agrees: its chain id, code at the registry, the registry's custodian() and deployedBlock() must match (E_NETWORK_MISMATCH, exit 4); --expect-custodian also compares the custodian with an address you got from the custodian another way.
The member's age recipient reaches the on-chain key directory without the member holding funds: a signed registration (EIP-712, used once) is written to --registration-out (default: registration-NAME.json in the medctl home, MEDCTL_HOME) for the custodian to relay with \`medctl network admit FILE\`. On a development chain (chain id 31337) only, --dev-fund instead funds the new address from anvil's well-known development accounts and publishes directly. Running it again with the same descriptor reports the profile and writes a fresh registration if the key is not yet registered.

The passphrase comes from MEDCTL_PASSPHRASE, --passphrase-file or a prompt.

Exit codes: 0 ok, 1 failure (E_RPC_UNAVAILABLE, E_BUSY), 2 usage error (no passphrase and no terminal, E_BAD_NETWORK_FILE, E_PROFILE_EXISTS, E_DEV_FUND_REFUSED), 4 the descriptor disagrees with its chain (E_NETWORK_MISMATCH).`

  static override examples = [
    '<%= config.bin %> init',
    'MEDCTL_PASSPHRASE=... <%= config.bin %> init --json',
    '<%= config.bin %> init --join network.json --name clinic --registration-out clinic-registration.json',
    '<%= config.bin %> init --join network.json --expect-custodian 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --json | jq .result.registration',
    '<%= config.bin %> init --join network.json --dev-fund',
  ]

  static override flags = {
    join: Flags.string({
      description: 'Join the network this descriptor names (from `medctl network export`) instead of creating a custodian.',
    }),
    name: Flags.string({description: 'Name of the member profile and identity (default "participant").', dependsOn: ['join']}),
    'registration-out': Flags.string({
      description: 'Where to write the signed registration for the custodian (default: registration-NAME.json in the medctl home).',
      dependsOn: ['join'],
      exclusive: ['dev-fund'],
    }),
    'dev-fund': Flags.boolean({
      description:
        "Development chain (chain id 31337) only: fund the new address from anvil's development accounts and publish its age recipient directly.",
      dependsOn: ['join'],
    }),
    'expect-custodian': Flags.string({
      description: 'The custodian address you were told out of band; the descriptor and the chain must name it.',
      dependsOn: ['join'],
    }),
    'kubo-url': Flags.string({
      description: "Your own Kubo RPC URL for the content store (default: the descriptor's shared store, else the embedded store).",
      dependsOn: ['join'],
    }),
    'rpc-timeout': rpcTimeoutFlag,
  }

  async run(): Promise<InitResult | JoinResult> {
    if (this.flags.join) return this.join(this.flags.join)
    const progress = this.progress()
    const result = await initLocal(this.paths, () => this.passphrase({confirm: true, message: 'New passphrase for the local identity'}), {
      onProgress: (step) => progress.update({phase: step, done: 0}),
    })
    progress.finish()
    if (result.alreadyInitialised) this.log(`medctl is already initialised: profile "${result.profile}" (${result.address}).`)
    else
      this.log(
        `Initialised profile "${result.profile}": address ${result.address}, age recipient ${result.recipient}, chain ${result.chainId} at ${result.rpcUrl}.`,
      )
    return result
  }

  private async join(file: string): Promise<JoinResult> {
    const progress = this.progress()
    const {flags} = this
    const result = await joinNetwork(
      this.paths,
      () => this.passphrase({confirm: true, message: 'New passphrase for the member identity'}),
      {
        file,
        ...(flags.name ? {name: flags.name} : {}),
        ...(flags['registration-out'] ? {registrationOut: flags['registration-out']} : {}),
        devFund: Boolean(flags['dev-fund']),
        ...(flags['expect-custodian'] ? {expectCustodian: flags['expect-custodian']} : {}),
        ...(flags['kubo-url'] ? {kuboUrl: flags['kubo-url']} : {}),
        ...(flags['rpc-timeout'] ? {rpcTimeoutMs: flags['rpc-timeout']} : {}),
        onProgress: (step) => progress.update({phase: step, done: 0}),
      },
    )
    progress.finish()
    const {network, checked, registration} = result
    this.log(
      `${result.alreadyJoined ? 'Already joined' : 'Joined'} network ${network.name ?? '(unnamed)'} as profile "${result.profile}" (role ${result.role}).`,
    )
    this.log(
      renderFields({
        address: result.address,
        recipient: result.recipient,
        chain: `${network.chainId} at ${network.rpcUrl} (no embedded node)`,
        registry: network.registry,
        custodian: network.custodian,
        checked: `chain id, code at the registry, custodian() and deployedBlock() ${checked.deployedBlock} at head ${checked.head}`,
        store: result.store.type === 'kubo' ? `kubo ${result.store.url}` : 'embedded (objects arrive as CAR files)',
        balance: `${result.balanceWei} wei`,
      }),
    )
    if (registration.status === 'pending') {
      this.log(`Signed registration written to ${registration.file} (valid until ${new Date(registration.deadline * 1000).toISOString()}).`)
      this.log(`Send it to the custodian (${network.custodian}), who runs: medctl network admit ${registration.file}`)
    } else if (registration.via === 'dev-fund') {
      this.log(
        `Development chain: funded from anvil's development accounts and published the age recipient directly (${registration.txHash}).`,
      )
    } else {
      this.log('The age recipient is already in the key directory.')
    }
    if (!result.current)
      this.note(
        `Profile "${result.profile}" is not the current profile: use --profile ${result.profile}, or \`medctl profile use ${result.profile}\`.`,
      )
    return result
  }
}
