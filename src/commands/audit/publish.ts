import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {publishAuditLog, type PublishResult} from '../../lib/audit/index.js'
import {openContentStore} from '../../lib/ipfs/index.js'

export default class AuditPublish extends BaseCommand<typeof AuditPublish> {
  static override summary = 'Publish the audit log and its signed tree heads: to a CAR file, or to your content store (prints the CID).'
  static override description = `The published log is one file: a header line with the signed tree heads, then every entry as stored. With --out it is written as a CARv1 file (the IPFS archive format: root = the log's CID, then every block) that an auditor on another machine verifies in their own home with \`medctl audit verify --log log.car\`, against the anchors of their own registry. Without --out it goes to the profile's content store (embedded, or the Kubo node) and is pinned; an auditor whose node reaches it verifies it with \`medctl audit verify --log CID\`. Entries hold pseudonyms only.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE when the Kubo node cannot be reached), 2 usage error (E_BAD_OUT: the folder of --out does not exist).`

  static override examples = [
    '<%= config.bin %> audit publish --out audit-2026-11.car',
    '<%= config.bin %> audit publish',
    '<%= config.bin %> audit publish --json | jq -r .result.cid',
  ]

  static override flags = {
    profile: profileFlag,
    out: Flags.string({description: 'Write a CARv1 file here instead of adding the log to the content store.'}),
  }

  async run(): Promise<PublishResult> {
    const result = await publishAuditLog(this.paths.auditDir, {
      out: this.flags.out,
      store: () => openContentStore(this.openSession(this.flags.profile)),
    })
    this.log(
      renderFields({
        cid: result.cid,
        entries: result.entries,
        heads: result.heads,
        ...(result.car ? {car: result.car.out, blocks: result.car.blocks, bytes: result.car.bytes} : {store: result.delivery}),
      }),
    )
    return result
  }
}
