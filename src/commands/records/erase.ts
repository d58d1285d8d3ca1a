import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag, yesFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {erasePatient, type EraseResult} from '../../lib/rights/erase.js'

export default class RecordsErase extends BaseCommand<typeof RecordsErase> {
  static override summary = 'Erase a patient (GDPR Art. 17) by crypto-shredding: revoke everything, destroy every key.'
  static override description = `Revokes every consent of the patient on chain (revoke-all), destroys every object key envelope the custodian holds for them (its own and each grantee's), deletes their blocks from the embedded store (zeroed, not just unlinked) and unpins them on the profile's Kubo node, and leaves only a tombstone (the pseudonym and the time): every later command about the patient fails with E_ERASED. Stored copies of the objects (backups, IPFS peers) can no longer be decrypted with anything this home holds. Copies a grantee already fetched cannot be recalled: the result lists who holds one, from the audit log. Audited.

Exit codes: 0 erased, 1 failure, 2 usage error (no --yes without a terminal), unknown or already erased patient (E_ERASED).`

  static override examples = [
    '<%= config.bin %> records erase --patient "http://hospital.example/mrn|12345" --yes',
    '<%= config.bin %> records erase --patient "http://hospital.example/mrn|12345" --yes --json | jq .result.copiesHeldBy',
  ]

  static override flags = {
    profile: profileFlag,
    'rpc-timeout': rpcTimeoutFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    yes: yesFlag,
  }

  async run(): Promise<EraseResult> {
    await this.confirm("Erase this patient's records for good? Their keys are destroyed and cannot be recovered.", this.flags.yes)
    const session = this.openSession(this.flags.profile)
    const result = await erasePatient(session, {patient: this.flags.patient})
    this.log(
      renderFields({
        subject: result.subject,
        erased: result.erasedAt,
        'revoke-all tx': result.revokeAll.txHash ?? '(no registry)',
        objects: result.objects,
        'key envelopes destroyed': result.envelopes,
        'blocks deleted': result.blocks,
        unpinned: result.unpinned,
      }),
    )
    for (const f of result.unpinFailures) this.warn(`Not unpinned (the blocks stay on the node, undecryptable): ${f}`)
    if (result.copiesHeldBy.length > 0)
      this.warn(
        `Keys were released earlier to ${result.copiesHeldBy.map((h) => `${h.grantee} (${h.classes.join(',')})`).join('; ')}: copies they fetched cannot be recalled.`,
      )
    return result
  }
}
