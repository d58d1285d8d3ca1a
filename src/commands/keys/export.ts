import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {MedctlError} from '../../lib/core/errors.js'
import {exportIdentity, writePrivateFile, type IdentityExport} from '../../lib/config/keystore.js'

export default class KeysExport extends BaseCommand<typeof KeysExport> {
  static override summary = "Export the profile's identity with its PRIVATE keys (requires --yes)."
  static override description = `Prints (or writes to --out, mode 0600) the Ethereum private key, the age identity and the pseudonym key in the "medctl-identity/1" format that \`keys import\` reads. Anyone holding this can act as the identity and decrypt its records: keep it offline. Under an unlocked session (\`medctl unlock\`) the keys come from the session's agent.

Exit codes: 0 ok, 1 bad passphrase (E_BAD_PASSPHRASE), missing or damaged key file (E_MISSING_KEY, E_CORRUPT_KEYSTORE), full disk (E_DISK_FULL) or another writer (E_BUSY), 2 --yes missing or usage error.`

  static override examples = [
    '<%= config.bin %> keys export --yes --out backup.json',
    '<%= config.bin %> keys export --yes --json | jq -r .result.ageIdentity > age.key',
  ]

  static override flags = {
    profile: profileFlag,
    yes: Flags.boolean({description: 'Confirm that private keys may be shown.', default: false}),
    out: Flags.string({description: 'Write the export to this file (mode 0600) instead of stdout.'}),
  }

  async run(): Promise<IdentityExport | {written: string; address: string}> {
    if (!this.flags.yes) {
      throw new MedctlError('E_CONFIRMATION_REQUIRED', 'Exporting private keys needs --yes.', {
        exitCode: 2,
        suggestions: ['Re-run with --yes.'],
      })
    }
    const session = this.openSession(this.flags.profile)
    const exported = exportIdentity(await session.unlock())
    if (this.flags.out) {
      writePrivateFile(this.flags.out, `${JSON.stringify(exported, null, 2)}\n`)
      this.note(`Wrote the identity export to ${this.flags.out} (mode 0600).`)
      return {written: this.flags.out, address: exported.address}
    }
    this.log(JSON.stringify(exported, null, 2))
    return exported
  }
}
