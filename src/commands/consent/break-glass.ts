import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {openEmergencyAccess} from '../../lib/consent/actions.js'

export default class ConsentBreakGlass extends BaseCommand<typeof ConsentBreakGlass> {
  static override summary = "Open time-boxed emergency access (ETREAT/BTG) to a patient's record, flagged for review."
  static override description = `Needs the EMERGENCY role. Refused when the patient opted out of emergency treatment. The reason stays off chain (only its hash goes on chain) and in the audit log; every use waits for \`consent review\`.

Exit codes: 0 ok, 1 failure (role missing), 2 usage error, 5 the patient opted out.`

  static override examples = [
    '<%= config.bin %> consent break-glass --patient "http://hospital.example/mrn|12345" --grantee er-doctor --reason "unconscious on arrival" --hours 4',
    '<%= config.bin %> consent break-glass --patient "http://hospital.example/mrn|12345" --grantee 0xAbc… --reason "ED" --hours 2 --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    grantee: Flags.string({description: 'Who gets emergency access: an address or a profile (default: this profile).'}),
    reason: Flags.string({description: 'Why (kept off chain; its hash is anchored).', required: true}),
    hours: Flags.integer({description: 'How long the access lasts (1–72).', required: true, min: 1, max: 72}),
  }

  async run(): Promise<{accessId: string; until: number; subject: string; grantee: string; txHash: string}> {
    const session = this.openSession(this.flags.profile)
    const opened = await openEmergencyAccess(session, {
      patient: this.flags.patient,
      grantee: granteeAddress(session, this.flags.grantee ?? session.identity().address),
      reason: this.flags.reason,
      hours: this.flags.hours,
    })
    this.warn(`Emergency access ${opened.accessId} is open until ${new Date(opened.until * 1000).toISOString()} and flagged for review.`)
    this.log(
      renderFields({
        access: opened.accessId,
        grantee: opened.grantee,
        until: new Date(opened.until * 1000).toISOString(),
        tx: opened.txHash,
      }),
    )
    return opened
  }
}
