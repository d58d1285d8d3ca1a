import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/cli/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {writePrivateFile} from '../../lib/config/keystore.js'
import type {EmergencySummary} from '../../lib/vault/summary.js'
import {summarizePatient} from '../../lib/vault/use-cases.js'

export default class RecordsSummary extends BaseCommand<typeof RecordsSummary> {
  static override summary = 'The emergency summary of a patient: allergies, active medications and conditions, blood group, latest vital signs.'
  static override description = `Decrypts the patient's demographics, allergies, medications, conditions, labs and vitals (as the custodian; audited) and keeps what an emergency clinician needs first, in the shape of the HL7 International Patient Summary. --format table (default) prints it; --format json returns it; --format ips writes the IPS document Bundle (a Composition with LOINC 60591-5 first, then the Patient and every resource a section cites; valid FHIR R4) to --out (mode 0600; - for stdout). The output is PHI.

Exit codes: 0 ok, 1 failure, 2 usage error, unknown or erased patient, 4 a stored object is missing or corrupt.`

  static override examples = [
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345"',
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345" --format ips --out ips.json',
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345" --json | jq .result.summary.allergies',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    format: Flags.string({description: 'table, json, or ips (the IPS document Bundle, to --out).', options: ['table', 'json', 'ips'], default: 'table'}),
    out: Flags.string({description: 'With --format ips: the file to write (mode 0600); - for stdout.'}),
  }

  async run(): Promise<{subject: string; summary: EmergencySummary; out?: string}> {
    const {format, out} = this.flags
    if (format === 'ips' && !out) throw usageError('E_OUT_REQUIRED', '--format ips writes a document Bundle: name --out FILE (or - for stdout).')
    if (out === '-' && this.jsonEnabled()) throw usageError('E_OUT_CONFLICT', '--out - writes the Bundle to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    const {subject, summary, ips} = await summarizePatient(session, {patient: this.flags.patient})
    if (format === 'ips' && out) {
      const text = `${JSON.stringify(ips, null, 2)}\n`
      if (out === '-') process.stdout.write(text)
      else writePrivateFile(out, text)
      this.note(`Wrote the IPS document Bundle to ${out === '-' ? 'stdout' : out}.`)
      return {subject, summary, out}
    }
    if (format === 'json') {
      if (!this.jsonEnabled()) this.log(JSON.stringify(summary, null, 2))
      return {subject, summary}
    }
    const rows: string[][] = [
      ...summary.allergies.map((i) => ['allergy', i.text, '', i.date ?? '']),
      ...summary.medications.map((i) => ['medication', i.text, '', i.date ?? '']),
      ...summary.conditions.map((i) => ['condition', i.text, '', i.date ?? '']),
      ...(summary.bloodGroup ? [['blood group', summary.bloodGroup.text, summary.bloodGroup.value ?? '', summary.bloodGroup.date ?? '']] : [['blood group', 'not recorded', '', '']]),
      ...summary.vitals.map((i) => ['vital sign', i.text, i.value ?? '', i.date ?? '']),
    ]
    this.log(renderTable(['what', 'item', 'value', 'date'], rows))
    return {subject, summary}
  }
}
