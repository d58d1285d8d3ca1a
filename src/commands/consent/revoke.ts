import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {logRangeFlag, profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {parsePurposes} from '../../lib/consent/index.js'
import {revokeConsents, type RevokeOutcome} from '../../lib/consent/revoke.js'

export default class ConsentRevoke extends BaseCommand<typeof ConsentRevoke> {
  static override summary = "Revoke a consent (final), a patient's consents to a grantee, or every consent of a patient at once."
  static override description = `Name the consent by its id; or by --patient and --grantee (every purpose that grantee holds, or only --purpose); --patient --all revokes every consent of the patient in one O(1) transaction. A custodian profile revokes; a patient's own wallet (--subject) revokes as the subject's controller.

Revocation is final, enforced by the contract: a revoked consent never releases a key again and no signature — resubmitted by anyone — can make it active again. Revoking what is already revoked (or superseded) sends nothing and says so (noop).

Exit codes: 0 ok (also for a no-op), 1 failure, 2 usage error or no such consent.`

  static override examples = [
    '<%= config.bin %> consent revoke 0x1f2e…',
    '<%= config.bin %> consent revoke --patient "http://hospital.example/mrn|12345" --grantee clinic --purpose TREAT',
    '<%= config.bin %> consent revoke --patient "http://hospital.example/mrn|12345" --all --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value (custodian).', exclusive: ['subject']}),
    subject: Flags.string({description: "The subject pseudonym (a patient's own wallet)."}),
    grantee: Flags.string({description: 'The grantee (address or profile) whose consents to revoke.'}),
    purpose: Flags.string({description: 'Only the consents for these purposes (comma-separated).', dependsOn: ['grantee']}),
    all: Flags.boolean({description: 'Revoke every consent of the patient.', exclusive: ['grantee']}),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
    'log-range': logRangeFlag,
    'rpc-timeout': rpcTimeoutFlag,
  }

  static override args = {consentId: Args.string({description: 'The consent id (0x…, 20 bytes).'})}

  async run(): Promise<RevokeOutcome> {
    const session = this.openSession(this.flags.profile)
    const outcome = await revokeConsents(session, {
      ...(this.args.consentId ? {consentId: this.args.consentId} : {}),
      ...(this.flags.patient ? {patient: this.flags.patient} : {}),
      ...(this.flags.subject ? {subject: this.flags.subject} : {}),
      ...(this.flags.grantee ? {grantee: granteeAddress(session, this.flags.grantee)} : {}),
      ...(this.flags.purpose ? {purposes: parsePurposes(this.flags.purpose)} : {}),
      all: this.flags.all,
      confirmations: this.flags.confirmations,
      logRange: this.flags['log-range'],
    })
    if (outcome.all) this.log(`Revoked every consent of the patient (tx ${outcome.txHash}).`)
    else
      this.log(
        renderTable(
          ['consent', 'purpose', 'grantee', 'outcome', 'tx', 'gas'],
          outcome.revoked.map((r) => [
            r.consentId,
            r.purpose,
            r.grantee,
            r.noop ? `unchanged (${r.reason})` : 'revoked',
            r.txHash ?? '',
            r.gasUsed ?? '',
          ]),
        ),
      )
    return outcome
  }
}
