import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, MedctlError, usageError} from '../../lib/cli/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {auditConsent} from '../../lib/consent/audit.js'
import {consentContext} from '../../lib/consent/context.js'
import {classesFromMask, consentIdOf, controllerOf, currentConsent, openSignedGrant, purposesFromMask, submitGrant} from '../../lib/consent/index.js'
import {sealTerms, storeTerms} from '../../lib/consent/terms.js'
import {custodianContext} from '../../lib/vault/custodian.js'

export interface SubmitResult {
  consentId: string
  /** Null when nothing was sent (noop). */
  txHash: string | null
  blockNumber: number | null
  gasUsed: string
  signer: string
  signedBy: 'controller' | 'custodian'
  /** The chain already held this exact grant: nothing changed. */
  noop: boolean
}

export default class ConsentSubmit extends BaseCommand<typeof ConsentSubmit> {
  static override summary = 'Relay a grant signed offline (`consent sign`) to the chain, paying its gas.'
  static override description = `Checks the file first, without the chain: the signature, that it was made for this profile's chain and registry, and that the terms hash to the signed terms hash. The chain then accepts it only when the signer is the subject's controller or a custodian, and records which. Submitting the same file again changes nothing (noop: true). On a custodian profile the terms are kept (encrypted) for \`consent export\`, and the grant goes into the audit log.

Exit codes: 0 ok, 1 failure (E_INVALID_SIGNER, E_SIGNATURE_EXPIRED…), 2 usage error (E_WRONG_CHAIN, E_BAD_SIGNED_GRANT, E_TERMS_MISMATCH), 5 refused by the patient's choices (E_CONSENT_REVOKED, E_OPTED_OUT).`

  static override examples = ['<%= config.bin %> consent submit grant.json', 'cat grant.json | <%= config.bin %> consent submit - --json']

  static override flags = {
    profile: profileFlag,
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
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
    const ctx = await consentContext(session, {write: true})
    const {file, grant, signer} = openSignedGrant(text, {chainId: ctx.chainId, registry: ctx.address})
    const controller = await controllerOf(ctx.registry, grant.subject)
    const signedBy = controller?.toLowerCase() === signer.toLowerCase() ? 'controller' : 'custodian'
    const consentId = consentIdOf(grant)
    const current = await currentConsent(ctx.registry, grant.subject, grant.grantee)
    let result: Omit<SubmitResult, 'signer' | 'signedBy'>
    if (current.consentId === consentId.toLowerCase() && current.revoked) {
      throw new MedctlError('E_CONSENT_REVOKED', 'This consent was revoked; revocation is final. Sign a new grant.', {exitCode: ExitCode.DENIED})
    } else if (current.consentId === consentId.toLowerCase()) {
      result = {consentId, txHash: null, blockNumber: null, gasUsed: '0', noop: true}
    } else {
      result = await submitGrant(ctx.registry, grant, file.signature, {confirmations: this.flags.confirmations})
      await session.chainWritten()
    }
    if (!result.noop) {
      const purposes = purposesFromMask(grant.purposes)
      const classes = classesFromMask(grant.classes)
      await auditConsent(session, {type: 'grant', outcome: 'success', subject: grant.subject, grantee: grant.grantee, purposes, classes, consentId: result.consentId, detail: {via: 'submit', signer, signedBy}})
    }
    if (session.profile.role === 'custodian') {
      const custodian = await custodianContext(session)
      storeTerms(custodian.db, custodian.address, [{consentId: result.consentId, subject: grant.subject, termsHash: grant.termsHash, sealed: await sealTerms(custodian.recipient, Buffer.from(file.terms.salt, 'hex'), file.terms.consent)}])
    }
    this.log(renderFields({consent: result.consentId, signer, 'signed by': signedBy, tx: result.txHash ?? '(none)', gas: result.gasUsed, ...(result.noop ? {noop: 'the chain already holds this grant'} : {})}))
    return {...result, signer, signedBy}
  }
}
