import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {Keystore, type IdentityInfo} from '../../lib/config/keystore.js'
import {validateProfileName} from '../../lib/config/profiles.js'

export default class KeysGenerate extends BaseCommand<typeof KeysGenerate> {
  static override summary = 'Generate a new identity: an Ethereum key, an age X25519 identity and, for a custodian, a pseudonym key.'
  static override description = `Keys are encrypted at rest with the passphrase (ethers JSON keystore; age scrypt), in files of mode 0600. The passphrase comes from MEDCTL_PASSPHRASE or a prompt, never a flag. Attach it to a profile with \`medctl profile create NAME --identity IDENTITY\`.

Exit codes: 0 ok, 1 failure (E_BUSY: another command is writing to the home; E_DISK_FULL), 2 usage error (name taken, unsafe name, no passphrase).`

  static override examples = [
    '<%= config.bin %> keys generate backup-custodian --custodian',
    'MEDCTL_PASSPHRASE=... <%= config.bin %> keys generate lab2 --json',
  ]
  static override flags = {
    custodian: Flags.boolean({description: 'Also generate a pseudonym key (custodians name patients by it).', default: false}),
  }
  static override args = {name: Args.string({description: 'Identity name.', required: true})}

  async run(): Promise<IdentityInfo> {
    validateProfileName(this.args.name)
    const keystore = new Keystore(this.paths)
    const info = await keystore.generate(
      this.args.name,
      await this.passphrase({confirm: true, message: `New passphrase for identity "${this.args.name}"`}),
      {pseudonymKey: this.flags.custodian},
    )
    this.log(`Generated identity "${info.name}": address ${info.address}, age recipient ${info.recipient}.`)
    return info
  }
}
