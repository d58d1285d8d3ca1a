import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, usageError} from '../../lib/cli/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {chainAnchors, checkProof, type InclusionProofFile, type ProofCheck} from '../../lib/audit/index.js'

export default class AuditCheckProof extends BaseCommand<typeof AuditCheckProof> {
  static override summary = 'Check an inclusion proof offline, and against the chain when it can be reached.'
  static override description = `Offline: the entry hashes to the leaf and the path leads to the root. With the chain (unless --offline): an anchor with that tree size and root exists in the registry named in the proof.

Exit codes: 0 valid, 2 not a proof file, 4 invalid.`

  static override examples = ['<%= config.bin %> audit check-proof proof.json --offline', '<%= config.bin %> audit check-proof proof.json --json']
  static override flags = {profile: profileFlag, offline: Flags.boolean({description: 'Check the proof alone, without the chain.'})}
  static override args = {file: Args.string({description: 'The proof file written by `audit prove`.', required: true})}

  async run(): Promise<ProofCheck> {
    let proof: InclusionProofFile
    try {
      proof = JSON.parse(readFileSync(this.args.file, 'utf8')) as InclusionProofFile
    } catch {
      throw usageError('E_BAD_PROOF', 'The file is not a readable proof (JSON).')
    }
    if (proof.format !== 'medctl-audit-proof/1') throw usageError('E_BAD_PROOF', 'Not a medctl audit proof (format medctl-audit-proof/1).')
    const anchors = this.flags.offline || !proof.anchor ? undefined : await chainAnchors(this.openSession(this.flags.profile), proof.anchor.registry)
    const result = checkProof(proof, anchors)
    this.log(renderFields({valid: result.ok, offline: result.offline, 'on chain': result.onChain ?? 'not checked', ...(result.problem ? {problem: result.problem} : {})}))
    if (!result.ok) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
