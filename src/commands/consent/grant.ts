import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesOption} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {consentContext, grantForPatient, granteeAddress} from '../../lib/consent/context.js'
import {parsePurposes, parseWhen, type GrantResult} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'
import {auditConsent} from '../../lib/consent/audit.js'

export default class ConsentGrant extends BaseCommand<typeof ConsentGrant> {
  static override summary = 'Grant a grantee access to chosen data classes of a patient, for purposes, until a date.'
  static override description = `The custodian signs the grant as EIP-712 typed data on behalf of a patient without a wallet (a patient's own wallet signs with \`consent sign\`) and submits it; the chain records subject pseudonym, grantee, purposes, classes and the validity window, and the salted hash of the full FHIR Consent, which stays off chain (encrypted). Re-submitting an identical grant is a no-op. A new grant for the same patient and grantee replaces the previous one.

Exit codes: 0 ok, 1 failure, 2 usage error (bad purpose, class, date, duration beyond the purpose's cap), 5 the patient opted out of the purpose.`

  static override examples = [
    '<%= config.bin %> consent grant --patient "http://hospital.example/mrn|12345" --grantee clinic --purpose TREAT --classes labs,conditions --until 90d',
    '<%= config.bin %> consent grant --patient "http://hospital.example/mrn|12345" --grantee 0xAbc… --purpose HRESCH --classes demographics,labs --from 2027-01-01 --until 2028-01-01 --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    grantee: Flags.string({description: 'Who receives access: an address or a local profile name.', required: true}),
    purpose: Flags.string({description: 'Purposes of use, comma-separated: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PUBHLTH, PATRQT, BTG.', required: true}),
    classes: classesOption({required: true}),
    until: Flags.string({description: 'End of validity: an ISO date or a duration from now (30d, 12h, 1y).', required: true}),
    from: Flags.string({description: 'Start of validity (default: now).'}),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
  }

  async run(): Promise<GrantResult & {subject: string; grantee: string; signedBy: 'custodian'}> {
    const session = this.openSession(this.flags.profile)
    const custodian = await custodianContext(session)
    const ctx = await consentContext(session, {write: true})
    const purposes = parsePurposes(this.flags.purpose)
    const classes = this.flags.classes
    const subject = subjectForPatient(custodian, this.flags.patient)
    const grantee = granteeAddress(session, this.flags.grantee)
    const notBefore = this.flags.from ? parseWhen(this.flags.from, ctx.now, 'from') : ctx.now
    const notAfter = parseWhen(this.flags.until, ctx.now, 'until')
    const result = await grantForPatient(session, custodian, ctx, {patient: this.flags.patient, subject, grantee, purposes, classes, notBefore, notAfter, confirmations: this.flags.confirmations})
    await auditConsent(session, {type: 'grant', outcome: 'success', subject, grantee, purposes, classes, consentId: result.consentId})
    this.log(renderFields({consent: result.consentId, grantee, purposes: purposes.join(', '), classes: classes.join(', '), until: new Date(notAfter * 1000).toISOString(), tx: result.txHash, gas: result.gasUsed}))
    return {...result, subject, grantee, signedBy: 'custodian'}
  }
}
