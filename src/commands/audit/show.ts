import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {AUDIT_TYPES, showEntries, type AuditEntry} from '../../lib/audit/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export default class AuditShow extends BaseCommand<typeof AuditShow> {
  static override summary = 'Show audit entries, filtered by patient, actor, action, outcome or time.'
  static override description = `--patient needs the custodian profile (it computes the patient's pseudonym); entries never hold identifiers.

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> audit show --outcome denied',
    '<%= config.bin %> audit show --patient "http://hospital.example/mrn|12345" --json',
    '<%= config.bin %> audit show --action key-release,fetch --since 2026-11-01',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'Only this patient (system|value).'}),
    actor: Flags.string({description: 'Only this actor (address or profile name).'}),
    action: Flags.string({description: `Only these types, comma-separated: ${AUDIT_TYPES.join(', ')}.`}),
    outcome: Flags.string({description: 'Only this outcome.', options: ['success', 'denied', 'failure']}),
    since: Flags.string({description: 'Only entries recorded at or after this ISO time.'}),
  }

  async run(): Promise<{entries: Array<AuditEntry & {index: number}>}> {
    const subject = this.flags.patient ? subjectForPatient(await custodianContext(this.openSession(this.flags.profile)), this.flags.patient) : undefined
    const entries = showEntries(this.paths.auditDir, {subject, actor: this.flags.actor, types: this.flags.action?.split(',').map((t) => t.trim()), outcome: this.flags.outcome, since: this.flags.since})
    this.log(renderTable(['#', 'recorded', 'type', 'outcome', 'reason', 'actor', 'subject'], entries.map((e) => [e.index, e.recorded, e.type, e.outcome, e.reason ?? '', e.actor.profile ?? e.actor.address, e.subject ? `${e.subject.slice(0, 12)}…` : ''])))
    return {entries}
  }
}
