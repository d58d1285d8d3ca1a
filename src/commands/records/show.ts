import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {writePrivateFile} from '../../lib/config/keystore.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesFlag} from '../../lib/cli/domain-flags.js'
import {decryptPatient} from '../../lib/vault/use-cases.js'

export interface RecordsShowResult {
  subject: string
  classes: string[]
  resources: number
  out: string
}

export default class RecordsShow extends BaseCommand<typeof RecordsShow> {
  static override summary = "Decrypt a patient's record (as the custodian) into a FHIR Bundle file."
  static override description = `Writes a FHIR R4 collection Bundle of the chosen data classes (default: all) to --out, the only place plaintext is written. The file is created with mode 0600; --out - writes to stdout (as everywhere in medctl), the summary then going to stderr.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE: the profile's Kubo node is down), 2 usage error or unknown patient, 4 a stored object is missing, corrupt, or its key is.`

  static override examples = [
    '<%= config.bin %> records show --patient "http://hospital.example/mrn|12345" --out patient.json',
    '<%= config.bin %> records show --patient "urn:oid:1.2.36.146.595.217.0.1|12345" --classes labs,vitals --out labs.json --json',
    '<%= config.bin %> records show --patient "http://hospital.example/mrn|12345" --classes labs --out - | jq \'.entry | length\'',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    classes: classesFlag,
    out: Flags.string({description: 'File to write the FHIR Bundle to (mode 0600); - for stdout.', required: true}),
  }

  async run(): Promise<RecordsShowResult> {
    const toStdout = this.flags.out === '-'
    if (toStdout && this.jsonEnabled())
      throw usageError('E_OUT_CONFLICT', '--out - writes the Bundle to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    const shown = await decryptPatient(session, {patient: this.flags.patient, ...(this.flags.classes ? {classes: this.flags.classes} : {})})
    const text = `${JSON.stringify(shown.bundle, null, 2)}\n`
    if (toStdout) {
      process.stdout.write(text)
      this.note(`Wrote ${shown.resources} resource(s) (${shown.classes.join(', ')}) to stdout.`)
    } else {
      writePrivateFile(this.flags.out, text)
      this.log(`Wrote ${shown.resources} resource(s) (${shown.classes.join(', ')}) to ${this.flags.out}.`)
    }
    return {subject: shown.subject, classes: shown.classes, resources: shown.resources, out: this.flags.out}
  }
}
