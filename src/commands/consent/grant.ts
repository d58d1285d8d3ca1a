import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {classesOption} from '../../lib/cli/domain-flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {grantConsent, type GrantOutcome} from '../../lib/consent/grant.js'
import {parsePurposes} from '../../lib/consent/index.js'

export default class ConsentGrant extends BaseCommand<typeof ConsentGrant> {
  static override summary = 'Grant a grantee access to chosen data classes of a patient, for a purpose, until a date.'
  static override description = `The custodian signs the grant as EIP-712 typed data on behalf of a patient without a wallet (a patient's own wallet signs with \`consent sign\`) and submits it; the chain records subject pseudonym, grantee, purpose, classes and the validity window, and the salted hash of the full FHIR Consent, which stays off chain (encrypted).

One consent per purpose: consents for different purposes to the same grantee stand side by side (--purpose TREAT,HPAYMT makes two). A new grant for a purpose the grantee already holds replaces that consent's terms — the result names it (replaced) and a warning says so. Re-submitting an identical grant is a no-op. Every transaction is journalled before it is sent: a re-run after a crash or a lost connection finishes the same transaction instead of granting twice.

A patient this vault has no record of is refused (E_UNKNOWN_PATIENT) unless --allow-unknown-patient.

Exit codes: 0 ok, 1 failure (E_RPC_UNAVAILABLE when the chain does not answer within --rpc-timeout), 2 usage error (bad purpose, class, date, unknown patient, duration beyond the purpose's cap), 5 the patient opted out of the purpose.`

  static override examples = [
    '<%= config.bin %> consent grant --patient "http://hospital.example/mrn|12345" --grantee clinic --purpose TREAT --classes labs,conditions --until 90d',
    '<%= config.bin %> consent grant --patient "http://hospital.example/mrn|12345" --grantee 0xAbc… --purpose HRESCH --classes demographics,labs --from 2027-01-01 --until 2028-01-01 --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    grantee: Flags.string({description: 'Who receives access: an address or a local profile name.', required: true}),
    purpose: Flags.string({
      description: 'Purposes of use, comma-separated (one consent each): TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PUBHLTH, PATRQT, BTG.',
      required: true,
    }),
    classes: classesOption({required: true}),
    until: Flags.string({description: 'End of validity: an ISO date or a duration from now (30d, 12h, 1y).', required: true}),
    from: Flags.string({description: 'Start of validity (default: now).'}),
    'allow-unknown-patient': Flags.boolean({description: 'Grant even though this vault holds no record of the patient.', default: false}),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
    'rpc-timeout': rpcTimeoutFlag,
  }

  async run(): Promise<GrantOutcome & {signedBy: 'custodian'}> {
    const purposes = parsePurposes(this.flags.purpose)
    const session = this.openSession(this.flags.profile)
    const outcome = await grantConsent(session, {
      patient: this.flags.patient,
      grantee: granteeAddress(session, this.flags.grantee),
      purposes,
      classes: this.flags.classes,
      ...(this.flags.from ? {from: this.flags.from} : {}),
      until: this.flags.until,
      allowUnknownPatient: this.flags['allow-unknown-patient'],
      confirmations: this.flags.confirmations,
    })
    for (const warning of outcome.warnings) this.warn(warning)
    const until = new Date(outcome.notAfter * 1000).toISOString()
    this.log(
      renderTable(
        ['consent', 'purpose', 'classes', 'until', 'outcome', 'tx', 'gas'],
        outcome.consents.map((c) => [
          c.consentId,
          c.purpose,
          this.flags.classes.join(','),
          until,
          c.noop ? 'unchanged' : c.replaced ? `replaced ${c.replaced.slice(0, 10)}…` : c.resumed ? 'granted (resumed)' : 'granted',
          c.txHash,
          c.gasUsed,
        ]),
      ),
    )
    return {...outcome, signedBy: 'custodian'}
  }
}
