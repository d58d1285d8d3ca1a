import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {logRangeFlag, profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {consentContext, granteeAddress, profileNamesByAddress} from '../../lib/consent/context.js'
import {listConsents, PURPOSES, type ConsentRecord, type Purpose} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export default class ConsentList extends BaseCommand<typeof ConsentList> {
  static override summary = 'List consents from the chain, with their status now.'
  static override description = `One consent per purpose: a patient may hold several for one grantee. Status: active, pending (not yet valid), expired, revoked (by id or by a revoke-all), superseded (replaced by a newer grant for the same patient, grantee and purpose). Events are read from the registry's deployment block in ranges of --log-range blocks.

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> consent list --status active',
    '<%= config.bin %> consent list --patient "http://hospital.example/mrn|12345" --json',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'Only this patient (system|value).'}),
    grantee: Flags.string({description: 'Only this grantee (address or profile).'}),
    purpose: Flags.string({description: 'Only consents for this purpose.', options: [...PURPOSES]}),
    status: Flags.string({
      description: 'Only consents with this status.',
      options: ['active', 'revoked', 'expired', 'pending', 'superseded'],
    }),
    'log-range': logRangeFlag,
    'rpc-timeout': rpcTimeoutFlag,
  }

  async run(): Promise<{consents: Array<ConsentRecord & {granteeProfile?: string}>}> {
    const session = this.openSession(this.flags.profile)
    const ctx = await consentContext(session, {write: false})
    const subject = this.flags.patient ? subjectForPatient(await custodianContext(session), this.flags.patient) : undefined
    const grantee = this.flags.grantee ? granteeAddress(session, this.flags.grantee) : undefined
    const consents = (
      await listConsents(ctx.registry, {
        subject,
        grantee,
        now: ctx.now,
        logRange: this.flags['log-range'],
        ...(this.flags.purpose ? {purpose: this.flags.purpose as Purpose} : {}),
      })
    ).filter((c) => !this.flags.status || c.status === this.flags.status)
    const names = profileNamesByAddress(session)
    const named = consents.map((c) => {
      const granteeProfile = names.get(c.grantee.toLowerCase())
      return granteeProfile ? {...c, granteeProfile} : c
    })
    this.log(
      renderTable(
        ['consent', 'subject', 'grantee', 'purpose', 'classes', 'until', 'status'],
        named.map((c) => [
          c.consentId,
          `${c.subject.slice(0, 12)}…`,
          'granteeProfile' in c ? `${c.granteeProfile} (${c.grantee.slice(0, 10)}…)` : c.grantee,
          c.purpose,
          c.classes.join(','),
          new Date(c.notAfter * 1000).toISOString().slice(0, 10),
          c.status,
        ]),
      ),
    )
    return {consents: named}
  }
}
