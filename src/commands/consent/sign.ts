import {writeFileSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {MedctlError, usageError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesOption} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress, subjectOf} from '../../lib/consent/context.js'
import {assertDuration, epochOf, parseWhen, PURPOSES, signGrantOffline, type Purpose} from '../../lib/consent/index.js'
import {registryContract} from '../../lib/chain/registry.js'

export default class ConsentSign extends BaseCommand<typeof ConsentSign> {
  static override summary = "Sign a grant offline with this profile's wallet (a patient's), for a relayer to submit."
  static override description = `Writes a signed grant (EIP-712 typed data for this profile's chain and ConsentRegistry) with its terms: a FHIR Consent naming the patient by subject pseudonym, and the salt of its hash. No transaction is sent and no gas is needed: hand the file to the hospital, whose \`consent submit FILE\` relays it. The chain accepts it when the signer is the subject's controller (see \`consent set-controller\`) or a custodian.

The patient names themself by --subject (the pseudonym the custodian gave them); a custodian profile may use --patient instead. Times are this machine's clock. The grant names the subject's revoke-all epoch, read from the chain (or given with --epoch to sign fully offline): a revoke-all voids every grant signed before it.

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> consent sign --profile alice --subject 0x5f…e1 --grantee 0xAbc… --purpose TREAT --classes labs,conditions --until 90d --out grant.json',
    '<%= config.bin %> consent sign --subject 0x5f…e1 --grantee clinic --purpose HRESCH --classes labs --from 2027-01-01 --until 2028-01-01 --deadline 30d --out - > grant.json',
  ]

  static override flags = {
    profile: profileFlag,
    subject: Flags.string({
      description: "The patient's subject pseudonym (0x…, 32 bytes), as the custodian gave it.",
      exactlyOne: ['subject', 'patient'],
    }),
    patient: Flags.string({description: 'The patient as system|value (custodian profiles only).', exactlyOne: ['subject', 'patient']}),
    grantee: Flags.string({description: 'Who receives access: an address or a local profile name.', required: true}),
    purpose: Flags.string({description: 'The purpose of use (one consent per purpose).', required: true, options: [...PURPOSES]}),
    classes: classesOption({required: true}),
    until: Flags.string({description: 'End of validity: an ISO date or a duration from now (30d, 12h, 1y).', required: true}),
    from: Flags.string({description: 'Start of validity (default: now).'}),
    deadline: Flags.string({description: 'The signature is valid for submission until: an ISO date or a duration.', default: '7d'}),
    out: Flags.string({description: 'Where to write the signed grant (JSON); - for stdout.', required: true}),
    epoch: Flags.integer({
      description: "The subject's revoke-all epoch, to sign with no chain access at all (default: read from the chain).",
      min: 0,
    }),
  }

  async run(): Promise<{consentId: string; subject: string; grantee: string; signer: string; deadline: string; out: string}> {
    const {out} = this.flags
    if (out === '-' && this.jsonEnabled())
      throw usageError('E_OUT_CONFLICT', '--out - writes the signed grant to stdout, where --json writes its envelope: choose one.')
    const session = this.openSession(this.flags.profile)
    const subject = await subjectOf(session, this.flags)
    const now = Math.floor(Date.now() / 1000)
    const notBefore = this.flags.from ? parseWhen(this.flags.from, now, 'from') : now
    const notAfter = parseWhen(this.flags.until, now, 'until')
    const deadline = parseWhen(this.flags.deadline, now, 'deadline')
    if (notAfter <= notBefore) throw new MedctlError('E_BAD_WINDOW', '--until must be after --from.', {exitCode: 2})
    assertDuration(this.flags.purpose as Purpose, notBefore, notAfter, now)
    const epoch = this.flags.epoch ?? (await epochOf(registryContract(session.registry(), await session.chainProvider()), subject))
    const identity = await session.unlock()
    const file = await signGrantOffline(identity.wallet, {
      subject,
      epoch,
      grantee: granteeAddress(session, this.flags.grantee),
      purpose: this.flags.purpose as Purpose,
      classes: this.flags.classes,
      notBefore,
      notAfter,
      deadline,
      chainId: session.profile.chain.chainId,
      registry: session.registry(),
    })
    const text = `${JSON.stringify(file, null, 2)}\n`
    if (out === '-') process.stdout.write(text)
    else writeFileSync(out, text)
    const summary = renderFields({
      consent: file.consentId,
      subject,
      grantee: file.grant.grantee,
      signer: file.signer,
      'submit before': new Date(deadline * 1000).toISOString(),
      out,
    })
    if (out === '-') this.note(summary)
    else this.log(summary)
    return {
      consentId: file.consentId,
      subject,
      grantee: file.grant.grantee,
      signer: file.signer,
      deadline: new Date(deadline * 1000).toISOString(),
      out,
    }
  }
}
