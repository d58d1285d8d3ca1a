import {writeFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {renderFields} from '../../lib/cli/output.js'
import {proveEntry, type InclusionProofFile} from '../../lib/audit/index.js'

export default class AuditProve extends BaseCommand<typeof AuditProve> {
  static override summary = 'Write an inclusion proof of one audit entry that an auditor can check offline.'
  static override description = `The proof holds the entry as stored, its index, the Merkle path to the root of the oldest signed and anchored tree head that covers it, that signed head, and a consistency proof from it to the newest anchored head. An auditor checks it with \`audit check-proof\` against their own registry. An entry in the unanchored tail cannot be proven yet: anchor first.

Exit codes: 0 ok, 1 failure, 2 no such entry or entry not anchored yet.`

  static override examples = [
    '<%= config.bin %> audit prove 42 --out proof.json',
    '<%= config.bin %> audit prove 0 --out - --json | jq .result.root',
  ]
  static override flags = {out: Flags.string({description: 'Where to write the proof (JSON).', required: true})}
  static override args = {index: Args.integer({description: 'The entry index (from 0).', required: true, min: 0})}

  async run(): Promise<InclusionProofFile & {out: string}> {
    const proof = proveEntry(this.paths.auditDir, this.args.index)
    if (this.flags.out !== '-') writeFileSync(this.flags.out, `${JSON.stringify(proof, null, 2)}\n`)
    this.log(
      renderFields({
        entry: proof.index,
        'tree size': proof.treeSize,
        root: proof.root,
        anchored: proof.anchor?.txHash ?? 'not yet (run `medctl audit anchor`)',
        out: this.flags.out,
      }),
    )
    return {...proof, out: this.flags.out}
  }
}
