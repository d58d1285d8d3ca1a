import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode} from '../../lib/core/errors.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {classesFlag} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {PURPOSES, type CheckResult, type Purpose} from '../../lib/consent/index.js'
import {decideConsent} from '../../lib/consent/actions.js'

export default class ConsentCheck extends BaseCommand<typeof ConsentCheck> {
  static override summary = "Ask the chain whether a grantee may access a patient's classes for a purpose."
  static override description = `The decision is three-way and reason-coded: Permit; Deny (Expired, NotYetValid, Revoked, PurposeNotCovered, ClassNotCovered, OptedOut); NoConsent. It is evaluated at the chain's time, or at --at-block. The decision is written to the audit log.

Exit codes: 0 Permit, 1 failure, 2 usage error, 5 Deny or NoConsent (the result is still printed).`

  static override examples = [
    '<%= config.bin %> consent check --patient "http://hospital.example/mrn|12345" --grantee clinic --purpose TREAT --classes labs',
    '<%= config.bin %> consent check --patient "http://hospital.example/mrn|12345" --grantee 0xAbc… --purpose HRESCH --at-block 120 --json | jq .result.reason',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    grantee: Flags.string({description: 'The grantee: an address or a profile name.', required: true}),
    purpose: Flags.string({description: 'One purpose of use.', required: true, options: [...PURPOSES]}),
    classes: classesFlag,
    'at-block': Flags.integer({description: 'Evaluate at this block number (E_BLOCK_NOT_FOUND past the head).', min: 0}),
    'rpc-timeout': rpcTimeoutFlag,
  }

  async run(): Promise<CheckResult & {subject: string; grantee: string}> {
    const session = this.openSession(this.flags.profile)
    const result = await decideConsent(session, {
      patient: this.flags.patient,
      grantee: granteeAddress(session, this.flags.grantee),
      purpose: this.flags.purpose as Purpose,
      classes: this.flags.classes ?? [],
      ...(this.flags['at-block'] === undefined ? {} : {atBlock: this.flags['at-block']}),
    })
    this.log(renderFields({decision: result.decision, reason: result.reason, consent: result.consentId ?? ''}))
    if (result.decision !== 'Permit') this.setExitCode(ExitCode.DENIED)
    return result
  }
}
