import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesFlag} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {sharePatient, type ShareResult} from '../../lib/access/index.js'
import {PURPOSES, type Purpose} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'

export default class RecordsShare extends BaseCommand<typeof RecordsShare> {
  static override summary = "Release a patient's granted record classes to a grantee, as an encrypted access package."
  static override description = `The custodian asks the chain for the decision (grantee, purpose, each class) and, only where it is Permit, wraps those objects' keys to the grantee's age recipient (from the on-chain key directory). The package is age-encrypted to the grantee and stored in the profile's content store (embedded, or its Kubo node); its CID is printed for the grantee (\`medctl records fetch CID\`). With --out FILE.car the package and every object it names are written instead as one CARv1 file (the IPFS archive format; its root is the package CID) for a grantee in another home or on another machine: \`medctl records fetch FILE.car\`. With --classes, every class named must be permitted; without, the permitted ones among the patient's classes are released. Under break-glass (the chain permits ETREAT or BTG only because an emergency window is open) only the emergency summary's classes — allergies, medications, conditions, labs — are released, for \`medctl records summary --package\` on the clinician's side; the release is logged with reason BreakGlass. Every decision, permit or deny, is written to the audit log before the package leaves.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE: the Kubo node is down), 2 usage error or unknown patient, 5 denied by consent (no key released).`

  static override examples = [
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to clinic --purpose TREAT',
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to 0xAbc… --purpose TREAT --classes labs,vitals --json | jq -r .result.packageCid',
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to 0xAbc… --purpose TREAT --out clinic-pkg.car',
    '<%= config.bin %> records share --patient "http://hospital.example/mrn|12345" --to er-doctor --purpose BTG --out emergency.car',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    to: Flags.string({description: 'The grantee: an address or a local profile name.', required: true}),
    purpose: Flags.string({description: 'Purpose of use (HL7 PurposeOfUse).', required: true, options: [...PURPOSES]}),
    classes: classesFlag,
    out: Flags.string({description: 'Write the package and its objects to this CARv1 file instead of the content store.'}),
  }

  async run(): Promise<ShareResult> {
    const session = this.openSession(this.flags.profile)
    const custodian = await custodianContext(session)
    const purpose = this.flags.purpose as Purpose
    const result = await sharePatient(session, custodian, {
      patient: this.flags.patient,
      grantee: this.flags.to,
      purpose,
      classes: this.flags.classes,
      out: this.flags.out,
    })
    for (const w of result.withheld) this.warn(`${w.class} withheld: ${w.decision} (${w.reason}).`)
    this.log(
      renderFields({
        package: result.packageCid,
        ...(result.car ? {car: `${result.car.out} (${result.car.blocks} blocks, ${result.car.bytes} bytes)`} : {store: result.delivery}),
        grantee: result.grantee,
        purpose,
        classes: result.classes.join(', '),
        objects: result.objects,
        ...(result.attachments > 0 ? {attachments: result.attachments} : {}),
      }),
    )
    return result
  }
}
