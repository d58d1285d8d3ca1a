import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {Keystore} from '../../lib/config/keystore.js'
import {ProfileStore} from '../../lib/config/profiles.js'
import {summarizeProfile, type ProfileSummary} from '../../lib/session/session.js'
import {createProfile} from '../../lib/app/setup.js'

export default class ProfileCreate extends BaseCommand<typeof ProfileCreate> {
  static override summary = 'Create a profile with a new identity, on the current chain and store unless flags say otherwise.'
  static override description = `A profile names a chain, a content store and an identity. A clinic, a research lab and the hospital can live in one MEDCTL_HOME: each gets its own keys. On the embedded chain the new wallet is funded from anvil's development accounts.

Exit codes: 0 ok, 1 failure (E_BUSY: another command is writing to the home; E_DISK_FULL), 2 usage error (bad name, profile exists, no passphrase).`

  static override examples = [
    '<%= config.bin %> profile create clinic',
    '<%= config.bin %> profile create lab --json',
    '<%= config.bin %> profile create besu --rpc-url https://rpc.example.org --chain-id 1337 --registry 0x…',
  ]

  static override flags = {
    custodian: Flags.boolean({
      description: 'This profile is a custodian: it holds a pseudonym key and can import records.',
      default: false,
    }),
    'rpc-url': Flags.string({description: "JSON-RPC URL of an external chain (default: the current profile's chain)."}),
    'chain-id': Flags.integer({description: 'Chain id of that chain.', min: 1}),
    registry: Flags.string({description: 'ConsentRegistry address on that chain.'}),
    kubo: Flags.string({description: "Kubo RPC URL to use as the content store (default: the current profile's store)."}),
    identity: Flags.string({description: 'Reuse an existing identity instead of generating a new one.'}),
    use: Flags.boolean({description: 'Make the new profile the current one.', default: false}),
  }

  static override args = {name: Args.string({description: 'Profile name: lowercase letters, digits, - and _.', required: true})}

  async run(): Promise<ProfileSummary> {
    const {flags} = this
    const created = await createProfile(
      this.paths,
      {
        name: this.args.name,
        custodian: flags.custodian,
        rpcUrl: flags['rpc-url'],
        chainId: flags['chain-id'],
        registry: flags.registry,
        kuboUrl: flags.kubo,
        identity: flags.identity,
      },
      () => this.passphrase({confirm: true, message: `New passphrase for identity "${this.args.name}"`}),
    )
    const profiles = new ProfileStore(this.paths)
    if (flags.use) profiles.use(created.profile.name)
    const summary = await summarizeProfile(
      this.paths,
      profiles,
      new Keystore(this.paths),
      created.profile,
      created.profile.chain.rpcUrl ?? null,
    )
    this.log(`Created profile "${summary.name}" with address ${summary.address}${created.funded ? ' (funded on the embedded chain)' : ''}.`)
    return summary
  }
}
