import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {MedctlError, usageError} from '../../lib/cli/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {auditConsent} from '../../lib/consent/audit.js'
import {consentContext, granteeAddress} from '../../lib/consent/context.js'
import {listConsents, revokeAll, revokeConsent} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export default class ConsentRevoke extends BaseCommand<typeof ConsentRevoke> {
  static override summary = 'Revoke a consent (final), or every consent of a patient at once.'
  static override description = `Name the consent by its id, or by --patient and --grantee (the pair's current consent); --patient --all revokes every consent of the patient in one O(1) transaction. A revoked consent never releases a key again and can never be re-activated.

Exit codes: 0 ok, 1 failure, 2 usage error or unknown consent.`

  static override examples = [
    '<%= config.bin %> consent revoke 0x1f2e…',
    '<%= config.bin %> consent revoke --patient "http://hospital.example/mrn|12345" --grantee clinic',
    '<%= config.bin %> consent revoke --patient "http://hospital.example/mrn|12345" --all --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value.'}),
    grantee: Flags.string({description: 'The grantee (address or profile) whose consent to revoke.', dependsOn: ['patient']}),
    all: Flags.boolean({description: 'Revoke every consent of the patient.', dependsOn: ['patient'], exclusive: ['grantee']}),
    confirmations: Flags.integer({description: 'Blocks to wait for.', default: 1, min: 1}),
  }

  static override args = {consentId: Args.string({description: 'The consent id (0x…, 20 bytes).'})}

  async run(): Promise<{consentId?: string; subject: string; all: boolean; txHash: string; blockNumber: number; gasUsed: string}> {
    const session = this.openSession(this.flags.profile)
    const ctx = await consentContext(session, {write: true})
    const options = {confirmations: this.flags.confirmations}
    if (this.flags.all) {
      const custodian = await custodianContext(session)
      const subject = subjectForPatient(custodian, this.flags.patient as string)
      const result = await revokeAll(ctx.registry, subject, options)
      await session.chainWritten()
      await auditConsent(session, {type: 'revoke', outcome: 'success', subject, detail: {all: true}})
      this.log(`Revoked every consent of the patient (tx ${result.txHash}).`)
      return {...result, all: true}
    }
    let subject: string
    let grantee: string
    let consentId: string
    if (this.args.consentId) {
      if (!/^0x[0-9a-fA-F]{40}$/.test(this.args.consentId)) throw usageError('E_BAD_CONSENT_ID', 'A consent id is 0x followed by 40 hex digits.')
      const found = (await listConsents(ctx.registry, {now: ctx.now})).find((c) => c.consentId.toLowerCase() === this.args.consentId?.toLowerCase())
      if (!found) throw new MedctlError('E_UNKNOWN_CONSENT', 'No consent with that id on this registry.', {exitCode: 2})
      ;({subject, grantee, consentId} = found)
    } else if (this.flags.patient && this.flags.grantee) {
      const custodian = await custodianContext(session)
      subject = subjectForPatient(custodian, this.flags.patient)
      grantee = granteeAddress(session, this.flags.grantee)
      consentId = ((await ctx.registry.consentOf(subject, grantee)) as [string])[0]
      if (/^0x0+$/.test(consentId)) throw new MedctlError('E_UNKNOWN_CONSENT', 'That patient has no current consent for that grantee.', {exitCode: 2})
    } else {
      throw usageError('E_USAGE', 'Name the consent id, or --patient with --grantee, or --patient with --all.')
    }
    const result = await revokeConsent(ctx.registry, subject, grantee, consentId, options)
    await session.chainWritten()
    await auditConsent(session, {type: 'revoke', outcome: 'success', subject, grantee, consentId})
    this.log(renderFields({revoked: consentId, grantee, tx: result.txHash, gas: result.gasUsed}))
    return {...result, subject, all: false}
  }
}
