import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {MedctlError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {openDatabase} from '../../lib/db/database.js'
import {RecordIndex} from '../../lib/vault/record-index.js'

export default class RecordsKey extends BaseCommand<typeof RecordsKey> {
  static override summary = "Print an object's key envelope: its object key, age-encrypted to this profile's recipient."
  static override description = `The envelope is an age file; decrypting it with the profile's age identity (e.g. with \`age -d -i\`) gives the object's own age identity, which decrypts the object (\`medctl store cat CID\`). Nothing secret is printed: the envelope is ciphertext.

Exit codes: 0 ok, 2 no envelope for this CID and recipient.`

  static override examples = [
    '<%= config.bin %> records key --cid bafy… --json | jq -r .result.envelope | base64 -d > envelope.age',
    '<%= config.bin %> records key --cid bafy… --out envelope.age',
  ]

  static override flags = {
    profile: profileFlag,
    cid: Flags.string({description: "The object's CID.", required: true}),
    out: Flags.string({description: 'Write the envelope (binary age file) here.'}),
  }

  async run(): Promise<{cid: string; recipient: string; envelope: string}> {
    const session = this.openSession(this.flags.profile)
    const {recipient, address} = session.identity()
    const envelope = new RecordIndex(openDatabase(this.paths), address).envelope(this.flags.cid, recipient)
    if (!envelope) throw new MedctlError('E_NO_ENVELOPE', 'This profile holds no key envelope for that CID.', {exitCode: 2})
    if (this.flags.out) {
      const {writeFileSync} = await import('node:fs')
      writeFileSync(this.flags.out, envelope)
    }
    this.log(this.flags.out ? `Wrote the envelope to ${this.flags.out}.` : envelope.toString('base64'))
    return {cid: this.flags.cid, recipient, envelope: envelope.toString('base64')}
  }
}
