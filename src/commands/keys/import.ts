import {readFileSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {Keystore, type IdentityInfo} from '../../lib/config/keystore.js'
import {validateProfileName} from '../../lib/config/profiles.js'

export default class KeysImport extends BaseCommand<typeof KeysImport> {
  static override summary = 'Import an identity from a "medctl-identity/1" export, encrypting it with the passphrase.'
  static override description = `Reads the file written by \`keys export\` (or stdin with --file -). The keys are re-encrypted at rest with the passphrase (MEDCTL_PASSPHRASE or a prompt).

The identity's name (--name, else the "name" in the file) must be a safe name — lowercase letters, digits, "-" and "_" — and the identity is only ever written under the home's keys directory: any other name is refused with E_BAD_KEY_NAME. A malformed key is refused with E_BAD_IDENTITY_FILE before anything is written.

Exit codes: 0 ok, 1 failure (E_BUSY: another command is writing to the home), 2 bad file (E_BAD_IDENTITY_FILE), unsafe name (E_BAD_KEY_NAME), name taken or no passphrase.`

  static override examples = [
    '<%= config.bin %> keys import --file backup.json --name restored',
    'cat backup.json | <%= config.bin %> keys import --file - --json',
  ]
  static override flags = {
    file: Flags.string({description: 'Export file to read; - for stdin.', required: true}),
    name: Flags.string({description: 'Name for the imported identity (default: the name in the file).'}),
  }

  async run(): Promise<IdentityInfo> {
    let text: string
    try {
      text = this.flags.file === '-' ? readFileSync(0, 'utf8') : readFileSync(this.flags.file, 'utf8')
    } catch (error) {
      throw usageError('E_FILE_NOT_READABLE', `The identity file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`)
    }
    let data: unknown
    try {
      data = JSON.parse(text)
    } catch {
      throw usageError('E_BAD_IDENTITY_FILE', 'The identity file is not JSON.')
    }
    // The name (from --name, else from the file) is checked by the keystore against keys/ before anything is written.
    if (this.flags.name) validateProfileName(this.flags.name)
    const info = await new Keystore(this.paths).import(data, await this.passphrase({confirm: true}), this.flags.name)
    this.log(`Imported identity "${info.name}" (${info.address}).`)
    return info
  }
}
