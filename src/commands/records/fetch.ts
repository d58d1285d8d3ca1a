import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {fetchPackage, type FetchResult} from '../../lib/access/index.js'
import {auditAccess} from '../../lib/access/audit.js'

export default class RecordsFetch extends BaseCommand<typeof RecordsFetch> {
  static override summary = 'Open an access package as the grantee: check the grant is still valid, decrypt, write a FHIR Bundle.'
  static override description = `Decrypts the package with this profile's age identity, asks the chain whether the grant is still Permit for every class in it, and only then unwraps the object keys and decrypts the objects into a FHIR collection Bundle at --out (mode 0600). After a revoke or an expiry nothing is decrypted. The fetch, allowed or denied, is written to the audit log.

Exit codes: 0 ok, 1 failure, 2 unknown CID or usage error, 4 a damaged package or object, 5 denied (not addressed to you, revoked, expired).`

  static override examples = [
    '<%= config.bin %> records fetch bafy… --out patient.json --profile clinic',
    '<%= config.bin %> records fetch bafy… --out labs.json --json | jq .result.classes',
  ]

  static override flags = {
    profile: profileFlag,
    out: Flags.string({description: 'File to write the FHIR Bundle to.', required: true}),
  }

  static override args = {cid: Args.string({description: 'CID of the access package (printed by `records share`).', required: true})}

  async run(): Promise<FetchResult> {
    const session = this.openSession(this.flags.profile)
    try {
      const {pkg, ...result} = await fetchPackage(session, {cid: this.args.cid, out: this.flags.out})
      await auditAccess(session, {type: 'fetch', outcome: 'success', subject: result.subject, grantee: session.identity().address, purpose: pkg.purpose, classes: result.classes, cids: pkg.objects.map((o) => o.cid), consentId: result.decision.consentId, reason: 'Permit', custodian: pkg.custodian})
      this.log(renderFields({out: result.out, classes: result.classes.join(', '), resources: result.resources, objects: result.objects}))
      return result
    } catch (error) {
      const denied = error as {code?: string; decision?: {reason: string; consentId?: string}; subject?: string}
      if (denied.code === 'E_ACCESS_DENIED' || denied.code === 'E_NOT_FOR_YOU') {
        await auditAccess(session, {type: 'fetch', outcome: 'denied', subject: denied.subject, grantee: session.identity().address, reason: denied.decision?.reason ?? denied.code, cids: [this.args.cid]})
      }
      throw error
    }
  }
}
