import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {usageError} from '../../lib/core/errors.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {submitSignedGrant, type SubmitResult} from '../../lib/consent/submit.js'

export default class ConsentSubmit extends BaseCommand<typeof ConsentSubmit> {
  static override summary = 'Relay a grant signed offline (`consent sign`) to the chain, paying its gas.'
  static override description = `Checks the file first, without the chain: the signature, that it was made for this profile's chain and registry, and that the terms hash to the signed terms hash. The chain then accepts it only when the signer is the subject's controller or a custodian, and records which. Submitting the same file again changes nothing (noop: true); a revoked or superseded grant, or one whose nonce was used for other terms, is refused by the contract whoever relays it. On a custodian profile the terms are kept (encrypted) for \`consent export\`, and the grant goes into the audit log.

Exit codes: 0 ok, 1 failure (E_INVALID_SIGNER, E_SIGNATURE_EXPIRED…), 2 usage error (E_WRONG_CHAIN, E_BAD_SIGNED_GRANT, E_TERMS_MISMATCH), 5 refused by the patient's choices (E_CONSENT_REVOKED, E_CONSENT_SUPERSEDED, E_NONCE_USED, E_OPTED_OUT).`

  static override examples = ['<%= config.bin %> consent submit grant.json', 'cat grant.json | <%= config.bin %> consent submit - --json']

  static override flags = {
    profile: profileFlag,
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
    'rpc-timeout': rpcTimeoutFlag,
  }

  static override args = {file: Args.string({description: 'The signed grant (JSON); - reads stdin.', required: true})}

  async run(): Promise<SubmitResult> {
    const session = this.openSession(this.flags.profile)
    let text: string
    try {
      text = readFileSync(this.args.file === '-' ? 0 : this.args.file, 'utf8')
    } catch {
      throw usageError('E_NO_INPUT', `Cannot read ${this.args.file}.`)
    }
    const result = await submitSignedGrant(session, text, {confirmations: this.flags.confirmations})
    this.log(
      renderFields({
        consent: result.consentId,
        signer: result.signer,
        'signed by': result.signedBy,
        tx: result.txHash ?? '(none)',
        gas: result.gasUsed,
        ...(result.noop ? {noop: 'the chain already holds this grant'} : {}),
      }),
    )
    return result
  }
}
