import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {setPatientController} from '../../lib/consent/actions.js'

export default class ConsentSetController extends BaseCommand<typeof ConsentSetController> {
  static override summary = "Let a patient's own wallet control their consents (sign grants, revoke by id, opt out)."
  static override description = `The custodian, who knows the patient, links the patient's subject pseudonym to the wallet the patient controls. From then on the patient signs grants offline (\`consent sign\`), which any relayer submits (\`consent submit\`), and may revoke or opt out directly; the chain records which grants the patient signed. The result includes the subject pseudonym, which the patient needs to sign (it is not PHI).

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> consent set-controller --patient "http://hospital.example/mrn|12345" --controller 0xAbc…',
    '<%= config.bin %> consent set-controller --patient "http://hospital.example/mrn|12345" --controller alice --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    controller: Flags.string({description: "The patient's wallet: an address or a local profile name.", required: true}),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
  }

  async run(): Promise<{subject: string; controller: string; txHash: string; blockNumber: number; gasUsed: string}> {
    const session = this.openSession(this.flags.profile)
    const result = await setPatientController(session, {
      patient: this.flags.patient,
      controller: granteeAddress(session, this.flags.controller),
      confirmations: this.flags.confirmations,
    })
    this.log(renderFields({subject: result.subject, controller: result.controller, tx: result.txHash, gas: result.gasUsed}))
    return result
  }
}
