import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {parsePurposes, type Purpose} from '../../lib/consent/index.js'
import {optOutOfPurposes} from '../../lib/consent/actions.js'

export default class ConsentOptOut extends BaseCommand<typeof ConsentOptOut> {
  static override summary = 'Opt a patient out of purposes of use: every decision for them becomes Deny.'
  static override description = `From the next block, every check for these purposes is Deny (reason OptedOut), whatever was granted, and no new grant for them is accepted; an opt-out of ETREAT or BTG also closes break-glass. Opt-outs add up and are not undone by this tool. The custodian names the patient by --patient; a patient with their own wallet (see \`consent set-controller\`) runs it under their profile with --subject.

Exit codes: 0 ok, 1 failure (E_NOT_AUTHORIZED: neither custodian nor the subject's controller), 2 usage error.`

  static override examples = [
    '<%= config.bin %> consent opt-out --patient "http://hospital.example/mrn|12345" --purpose HRESCH',
    '<%= config.bin %> consent opt-out --profile alice --subject 0x5f…e1 --purpose HRESCH,PUBHLTH --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value (custodian).', exactlyOne: ['patient', 'subject']}),
    subject: Flags.string({description: "The patient's subject pseudonym (their own wallet).", exactlyOne: ['patient', 'subject']}),
    purpose: Flags.string({
      description: 'Purposes of use, comma-separated: TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PUBHLTH, PATRQT, BTG.',
      required: true,
    }),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
  }

  async run(): Promise<{subject: string; purposes: Purpose[]; txHash: string; blockNumber: number; gasUsed: string}> {
    const session = this.openSession(this.flags.profile)
    const result = await optOutOfPurposes(session, {
      ...(this.flags.patient ? {patient: this.flags.patient} : {}),
      ...(this.flags.subject ? {subject: this.flags.subject} : {}),
      purposes: parsePurposes(this.flags.purpose),
      confirmations: this.flags.confirmations,
    })
    this.log(renderFields({subject: result.subject, 'opted out of': result.purposes.join(', '), tx: result.txHash, gas: result.gasUsed}))
    return result
  }
}
