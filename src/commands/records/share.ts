import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesFlag} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {sharePatient, type ShareResult} from '../../lib/access/index.js'
import {PURPOSES, type Purpose} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {auditAccess} from '../../lib/access/audit.js'

export default class RecordsShare extends BaseCommand<typeof RecordsShare> {
  static override summary = 'Release a patient\'s granted record classes to a grantee, as an encrypted access package.'
  static override description = `The custodian asks the chain for the decision (grantee, purpose, each class) and, only where it is Permit, wraps those objects' keys to the grantee's age recipient (from the on-chain key directory). The package is age-encrypted to the grantee and stored in the content store; its CID is printed for the grantee (\`medctl records fetch CID\`). With --classes, every class named must be permitted; without, the permitted ones among the patient's classes are released. Every decision, permit or deny, is written to the audit log.

Exit codes: 0 ok, 1 failure, 2 usage error or unknown patient, 5 denied by consent (no key released).`

  static override examples = [
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to clinic --purpose TREAT',
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to 0xAbc… --purpose TREAT --classes labs,vitals --json | jq -r .result.packageCid',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    to: Flags.string({description: 'The grantee: an address or a local profile name.', required: true}),
    purpose: Flags.string({description: 'Purpose of use (HL7 PurposeOfUse).', required: true, options: [...PURPOSES]}),
    classes: classesFlag,
  }

  async run(): Promise<ShareResult> {
    const session = this.openSession(this.flags.profile)
    const custodian = await custodianContext(session)
    const purpose = this.flags.purpose as Purpose
    try {
      const result = await sharePatient(session, custodian, {patient: this.flags.patient, grantee: this.flags.to, purpose, classes: this.flags.classes})
      await auditAccess(session, {type: 'key-release', outcome: 'success', subject: result.subject, grantee: result.grantee, purpose, classes: result.classes, cids: [result.packageCid], consentId: result.decision.consentId, reason: 'Permit'})
      for (const w of result.withheld) this.warn(`${w.class} withheld: ${w.decision} (${w.reason}).`)
      this.log(renderFields({package: result.packageCid, grantee: result.grantee, purpose, classes: result.classes.join(', '), objects: result.objects}))
      return result
    } catch (error) {
      const denied = error as {code?: string; decision?: {decision: string; reason: string; consentId?: string}; subject?: string}
      if (denied.code === 'E_ACCESS_DENIED' && denied.decision) {
        await auditAccess(session, {type: 'consent-decision', outcome: 'denied', subject: denied.subject, grantee: this.flags.to, purpose, classes: this.flags.classes, reason: denied.decision.reason, consentId: denied.decision.consentId})
      }
      throw error
    }
  }
}
