import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {consentContext, granteeAddress} from '../../lib/consent/context.js'
import {listConsents, type ConsentRecord} from '../../lib/consent/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export default class ConsentList extends BaseCommand<typeof ConsentList> {
  static override summary = 'List consents from the chain, with their status now.'
  static override description = `Status: active, pending (not yet valid), expired, revoked, superseded (replaced by a newer grant for the same pair).

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = ['<%= config.bin %> consent list --status active', '<%= config.bin %> consent list --patient "http://hospital.example/mrn|12345" --json']

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'Only this patient (system|value).'}),
    grantee: Flags.string({description: 'Only this grantee (address or profile).'}),
    status: Flags.string({description: 'Only consents with this status.', options: ['active', 'revoked', 'expired', 'pending', 'superseded']}),
  }

  async run(): Promise<{consents: ConsentRecord[]}> {
    const session = this.openSession(this.flags.profile)
    const ctx = await consentContext(session, {write: false})
    const subject = this.flags.patient ? subjectForPatient(await custodianContext(session), this.flags.patient) : undefined
    const grantee = this.flags.grantee ? granteeAddress(session, this.flags.grantee) : undefined
    const consents = (await listConsents(ctx.registry, {subject, grantee, now: ctx.now})).filter((c) => !this.flags.status || c.status === this.flags.status)
    this.log(renderTable(['consent', 'subject', 'grantee', 'purposes', 'classes', 'until', 'status'], consents.map((c) => [c.consentId, `${c.subject.slice(0, 12)}…`, c.grantee, c.purposes.join(','), c.classes.join(','), new Date(c.notAfter * 1000).toISOString().slice(0, 10), c.status])))
    return {consents}
  }
}
