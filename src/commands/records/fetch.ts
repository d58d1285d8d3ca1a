import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {fetchPackage, type FetchResult} from '../../lib/access/index.js'

export default class RecordsFetch extends BaseCommand<typeof RecordsFetch> {
  static override summary = 'Open an access package as the grantee: check the grant is still valid, decrypt, write a FHIR Bundle.'
  static override description = `The package is a CAR file received from the custodian (\`records share --out\`) or a CID read through this profile's content store (its Kubo node fetches it from the IPFS network). Every block of a CAR file is checked against its CID before anything in it is used; one altered byte refuses the whole file and nothing is written. The package is decrypted with this profile's age identity; the chain named by this profile (never the one the package names) must still say Permit for every class in it; only then are the object keys unwrapped and the objects decrypted into a FHIR collection Bundle at --out (mode 0600). Attached files (\`records attach\`) in the package are streamed out into --attachments (default: the Bundle's folder), decrypted chunk by chunk with bounded memory, each under its title when that is a plain file name (else its DocumentReference id) and written atomically only when its SHA-256 and size match its DocumentReference; on any mismatch nothing is written (E_ATTACHMENT_MISMATCH). After a revoke or an expiry nothing is decrypted. The fetch, allowed or denied, is written to this home's audit log, before the file.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE: the Kubo node is down), 2 unknown CID or usage error, 4 a damaged CAR file, package, object or attachment (E_CAR_CORRUPT, E_CID_MISMATCH, E_DECRYPT, E_ATTACHMENT_MISMATCH) or a package of another network, 5 denied (not addressed to you, revoked, expired).`

  static override examples = [
    '<%= config.bin %> records fetch hospital-pkg.car --out patient.json',
    '<%= config.bin %> records fetch bafy… --out patient.json --profile clinic',
    '<%= config.bin %> records fetch bafy… --out labs.json --json | jq .result.classes',
    "<%= config.bin %> records fetch imaging-pkg.car --out patient.json --attachments ./studies --json | jq -r '.result.attachments[].file'",
  ]

  static override flags = {
    profile: profileFlag,
    out: Flags.string({description: 'File to write the FHIR Bundle to.', required: true}),
    attachments: Flags.string({description: 'Folder for attached files in the package (default: the folder of --out).'}),
  }

  static override args = {
    package: Args.string({description: 'The access package: a CAR file (from `records share --out`) or its CID.', required: true}),
  }

  async run(): Promise<FetchResult> {
    const session = this.openSession(this.flags.profile)
    const {pkg, ...result} = await fetchPackage(session, {
      ref: this.args.package,
      out: this.flags.out,
      ...(this.flags.attachments ? {attachmentsDir: this.flags.attachments} : {}),
    })
    this.log(
      renderFields({
        out: result.out,
        from: result.source,
        package: result.packageCid,
        classes: result.classes.join(', '),
        resources: result.resources,
        objects: pkg.objects.length,
      }),
    )
    for (const a of result.attachments)
      this.log(renderFields({attachment: a.file, bytes: a.bytes, sha256: a.sha256, 'content-type': a.contentType}))
    return result
  }
}
