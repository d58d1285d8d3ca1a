import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {listRecords, type ListResult} from '../../lib/vault/read.js'

export default class RecordsList extends BaseCommand<typeof RecordsList> {
  static override summary = 'List the patients whose records this custodian holds, by pseudonym, with their data classes and objects.'
  static override description = `Patients appear by subject pseudonym only; --show-identifiers decrypts their identifiers (system|value) with the custodian's key.

Exit codes: 0 ok, 1 failure, 2 usage error or unknown patient.`

  static override examples = [
    '<%= config.bin %> records list',
    '<%= config.bin %> records list --patient "http://hospital.example/mrn|12345" --json',
    '<%= config.bin %> records list --json | jq ".result.patients | length"',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'Only this patient, named as system|value.'}),
    'show-identifiers': Flags.boolean({description: "Decrypt and show each patient's identifier.", default: false}),
  }

  async run(): Promise<ListResult> {
    const custodian = await custodianContext(this.openSession(this.flags.profile))
    const result = await listRecords(custodian, {patient: this.flags.patient, showIdentifiers: this.flags['show-identifiers']})
    const head = ['subject', ...(this.flags['show-identifiers'] ? ['identifier'] : []), 'resources', 'classes', 'objects']
    this.log(
      renderTable(
        head,
        result.patients.map((p) => [
          `${p.subject.slice(0, 18)}…`,
          ...(this.flags['show-identifiers'] ? [p.identifier] : []),
          p.resources,
          p.classes.join(', '),
          p.objects.length,
        ]),
      ),
    )
    this.note(`${result.patients.length} patient(s); ${result.referenceObjects} reference-data object(s).`)
    return result
  }
}
