import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, usageError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {PROOF_FORMAT, checkProofAgainst, resolveTrust, type ProofReport} from '../../lib/audit/index.js'

export default class AuditCheckProof extends BaseCommand<typeof AuditCheckProof> {
  static override summary = 'Check an inclusion proof: the path, the signed head, its signer, and its anchor in your registry.'
  static override description = `A proof carries the signed tree head it is relative to. The entry must hash to the leaf and the path lead to the head's root; the head's signature must recover to the custodian (--custodian, else the registry's custodian: the account holding CUSTODIAN_ROLE in YOUR registry) for your registry and chain; and, online, the head must be anchored in your registry (or consistent, by the proof's consistency path, with a head that is). The chain comes from --rpc-url and --registry (no profile needed) or from your profile — never from the proof.

--offline checks without the chain: the signer against --custodian (or your custodian profile's own key; without either the signer is unverified and the proof is refused), and says that the anchor was not checked.

Exit codes: 0 valid, 1 failure (chain unreachable), 2 not a proof file or usage error, 4 invalid (code names why).`

  static override examples = [
    '<%= config.bin %> audit check-proof proof.json --rpc-url https://rpc.example --registry 0x5FbDB2315678afecb367f032d93F642f64180aa3',
    '<%= config.bin %> audit check-proof proof.json --offline --custodian 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
    '<%= config.bin %> audit check-proof proof.json --json | jq .result.ok',
  ]

  static override flags = {
    profile: profileFlag,
    offline: Flags.boolean({description: 'Check without the chain (the anchor is not checked).'}),
    'rpc-url': Flags.string({description: 'Your JSON-RPC endpoint (with --registry, no profile is needed).'}),
    registry: Flags.string({description: "Your ConsentRegistry address (default: the profile's chain.registry)."}),
    custodian: Flags.string({description: "The custodian address the head must be signed by (default: the registry's custodian)."}),
  }

  static override args = {file: Args.string({description: 'The proof file written by `audit prove`.', required: true})}

  async run(): Promise<ProofReport> {
    let proof: unknown
    try {
      proof = JSON.parse(readFileSync(this.args.file, 'utf8'))
    } catch {
      throw usageError('E_BAD_PROOF', 'The file is not a readable proof (JSON).')
    }
    if ((proof as {format?: unknown} | null)?.format !== PROOF_FORMAT)
      throw usageError('E_BAD_PROOF', `Not a medctl audit proof (format ${PROOF_FORMAT}).`)
    const trust = await resolveTrust(
      {offline: this.flags.offline, rpcUrl: this.flags['rpc-url'], registry: this.flags.registry, custodian: this.flags.custodian},
      () => this.openSession(this.flags.profile),
    )
    let result: ProofReport
    try {
      result = await checkProofAgainst(proof, trust)
    } finally {
      trust.close()
    }
    const against = result.checkedAgainst
    this.log(
      renderFields({
        valid: result.ok,
        ...(result.ok ? {} : {code: result.code, problem: result.problem}),
        entry: result.index ?? '',
        'tree size': result.treeSize ?? '',
        path: result.offline ? 'leads to the root' : 'not verified',
        signer: result.signer ? `${result.signer}${result.signerVerified ? ' (the custodian)' : ''}` : 'none',
        anchor:
          result.onChain === null
            ? 'not checked' + (against.mode === 'offline' ? ' (offline)' : '')
            : result.anchor
              ? `anchor ${result.anchor.index} (size ${result.anchor.size}${result.anchor.via === 'consistency' ? ', by consistency' : ''})`
              : 'none matches',
        'checked against':
          against.mode === 'chain'
            ? `custodian ${against.custodian?.join(', ') || '(none of the signers holds the role)'} [${against.custodianFrom}], registry ${against.registry}, chain ${against.chainId}, block ${against.block}`
            : `offline: custodian ${against.custodian?.join(', ') ?? 'not given'}`,
      }),
    )
    if (result.ok && against.mode === 'offline') this.warn('Offline: the head was not checked against any anchor on chain.')
    if (!result.ok) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
