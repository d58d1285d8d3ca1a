import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {writePrivateFile} from '../../lib/config/keystore.js'
import {summarizePackage, type PackageSummaryResult} from '../../lib/access/index.js'
import type {EmergencySummary} from '../../lib/vault/summary.js'
import {summarizePatient} from '../../lib/vault/use-cases.js'

export default class RecordsSummary extends BaseCommand<typeof RecordsSummary> {
  static override summary =
    'The emergency summary of a patient: allergies, active medications and conditions, blood group, latest vital signs.'
  static override description = `With --patient (the custodian): decrypts the patient's demographics, allergies, medications, conditions, labs and vitals (audited) and keeps what an emergency clinician needs first, in the shape of the HL7 International Patient Summary.

With --package (a clinician, in its own profile): the access package the custodian released to it (\`records share --purpose BTG\` under an open break-glass window, which releases the allergies, medications, conditions and labs classes only), a CAR file or a CID. As with \`records fetch\`, every block is checked, the package must be for this profile, and this profile's own chain must say Permit now — after the window closes nothing is decrypted (exit 5); then only the summary's classes are decrypted, in memory, and only the summary is output. Audited in this home as a fetch of the emergency summary (reason BreakGlass).

--format table (default) prints it; --format json returns it; --format ips writes the IPS document Bundle (a Composition with LOINC 60591-5 first, then the Patient and every resource a section cites; valid FHIR R4) to --out (mode 0600; - for stdout). The output is PHI.

Exit codes: 0 ok, 1 failure, 2 usage error, unknown or erased patient, 4 a stored object is missing or corrupt, or a damaged package, 5 denied (no open break-glass window or consent, package not for this profile).`

  static override examples = [
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345"',
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345" --format ips --out ips.json',
    '<%= config.bin %> records summary --patient "http://hospital.example/mrn|12345" --json | jq .result.summary.allergies',
    '<%= config.bin %> records summary --package emergency-pkg.car --profile er-doctor --format ips --out ips.json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value (custodian).', exactlyOne: ['patient', 'package']}),
    package: Flags.string({
      description: 'An access package released to this profile (CAR file or CID), e.g. under break-glass.',
      exactlyOne: ['patient', 'package'],
    }),
    format: Flags.string({
      description: 'table, json, or ips (the IPS document Bundle, to --out).',
      options: ['table', 'json', 'ips'],
      default: 'table',
    }),
    out: Flags.string({description: 'With --format ips: the file to write (mode 0600); - for stdout.'}),
  }

  async run(): Promise<{subject: string; summary: EmergencySummary; out?: string; package?: PackageSummaryResult['package']}> {
    const {format, out} = this.flags
    if (format === 'ips' && !out)
      throw usageError('E_OUT_REQUIRED', '--format ips writes a document Bundle: name --out FILE (or - for stdout).')
    if (out === '-' && this.jsonEnabled())
      throw usageError('E_OUT_CONFLICT', '--out - writes the Bundle to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    let fromPackage: PackageSummaryResult['package'] | undefined
    let made: {subject: string; summary: EmergencySummary; ips: unknown}
    if (this.flags.package) {
      const r = await summarizePackage(session, {ref: this.flags.package})
      fromPackage = r.package
      made = r
      if (r.package.breakGlass) this.warn('Emergency (break-glass) access: this use is in the audit log and flagged for review.')
    } else {
      made = await summarizePatient(session, {patient: this.flags.patient as string})
    }
    const {subject, summary, ips} = made
    const extra = fromPackage ? {package: fromPackage} : {}
    if (format === 'ips' && out) {
      const text = `${JSON.stringify(ips, null, 2)}\n`
      if (out === '-') process.stdout.write(text)
      else writePrivateFile(out, text)
      this.note(`Wrote the IPS document Bundle to ${out === '-' ? 'stdout' : out}.`)
      return {subject, summary, out, ...extra}
    }
    if (format === 'json') {
      if (!this.jsonEnabled()) this.log(JSON.stringify(summary, null, 2))
      return {subject, summary, ...extra}
    }
    const rows: string[][] = [
      ...summary.allergies.map((i) => ['allergy', i.text, '', i.date ?? '']),
      ...summary.medications.map((i) => ['medication', i.text, '', i.date ?? '']),
      ...summary.conditions.map((i) => ['condition', i.text, '', i.date ?? '']),
      ...(summary.bloodGroup
        ? [['blood group', summary.bloodGroup.text, summary.bloodGroup.value ?? '', summary.bloodGroup.date ?? '']]
        : [['blood group', 'not recorded', '', '']]),
      ...summary.vitals.map((i) => ['vital sign', i.text, i.value ?? '', i.date ?? '']),
    ]
    this.log(renderTable(['what', 'item', 'value', 'date'], rows))
    return {subject, summary, ...extra}
  }
}
