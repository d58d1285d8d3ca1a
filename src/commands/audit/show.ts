import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {AUDIT_TYPES, logReference, showEntries, withLogDir, type ShownEntry} from '../../lib/audit/index.js'
import {usageError} from '../../lib/core/errors.js'
import {openContentStore} from '../../lib/ipfs/index.js'
import {custodianContext} from '../../lib/vault/custodian.js'
import {subjectForPatient} from '../../lib/vault/read.js'

export default class AuditShow extends BaseCommand<typeof AuditShow> {
  static override summary = "Show audit entries, filtered by patient, actor, action, outcome or time; this home's log or an evidence copy."
  static override description = `Entries never hold identifiers: a patient appears as the subject pseudonym. --subject filters by that pseudonym and needs no key, so an auditor can read an evidence copy alone (--log: a directory, a CAR file from \`audit publish --out\`, or a published log's CID). --patient computes the pseudonym from system|value and so needs the custodian profile's pseudonym key (its passphrase, or an unlocked session).

A break-glass row names its access id and its review: approved, rejected, or pending (no review entry in the log yet).

show reads; it does not verify. Run \`medctl audit verify\` (same --log) to know the entries are the ones anchored on chain.

Exit codes: 0 ok, 1 failure, 2 usage error.`

  static override examples = [
    '<%= config.bin %> audit show --outcome denied',
    '<%= config.bin %> audit show --patient "http://hospital.example/mrn|12345" --json',
    '<%= config.bin %> audit show --log audit-2026-11.car --subject 0x3f1c…',
    '<%= config.bin %> audit show --action break-glass',
    '<%= config.bin %> audit show --action key-release,fetch --since 2026-11-01',
  ]

  static override flags = {
    profile: profileFlag,
    log: Flags.string({
      description: "Read this log instead of the home's: a directory, a CAR file from `audit publish --out`, or a published log's CID.",
    }),
    patient: Flags.string({description: 'Only this patient (system|value; needs the custodian profile).', exclusive: ['subject']}),
    subject: Flags.string({description: 'Only this subject pseudonym (0x + 64 hex; needs no key).', exclusive: ['patient']}),
    actor: Flags.string({description: 'Only this actor (address or profile name).'}),
    action: Flags.string({description: `Only these types, comma-separated: ${AUDIT_TYPES.join(', ')}.`}),
    outcome: Flags.string({description: 'Only this outcome.', options: ['success', 'denied', 'failure']}),
    since: Flags.string({description: 'Only entries recorded at or after this ISO time.'}),
  }

  async run(): Promise<{entries: ShownEntry[]}> {
    const {flags} = this
    if (flags.subject !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(flags.subject))
      throw usageError(
        'E_BAD_SUBJECT',
        `--subject ${flags.subject} is not a subject pseudonym (0x followed by 64 hex digits, as \`records list --json\` and \`consent list\` show it).`,
      )
    const types = flags.action
      ?.split(',')
      .map((t) => t.trim())
      .filter(Boolean)
    const unknown = types?.filter((t) => !(AUDIT_TYPES as readonly string[]).includes(t)) ?? []
    if (unknown.length > 0)
      throw usageError('E_BAD_ACTION', `--action ${unknown.join(',')}: not an audit entry type. Allowed: ${AUDIT_TYPES.join(', ')}.`)
    const subject = flags.patient
      ? subjectForPatient(await custodianContext(this.openSession(flags.profile)), flags.patient)
      : flags.subject
    const ref = logReference(flags.log, this.paths.auditDir)
    const entries = await withLogDir(
      ref,
      () => openContentStore(this.openSession(flags.profile)),
      async (dir) => showEntries(dir, {subject, actor: flags.actor, types, outcome: flags.outcome, since: flags.since}),
    )
    this.log(
      renderTable(
        ['#', 'recorded', 'type', 'outcome', 'reason', 'actor', 'subject', 'note'],
        entries.map((e) => [
          e.index,
          e.recorded,
          e.type,
          e.outcome,
          e.reason ?? '',
          e.actor.profile ?? e.actor.address,
          e.subject ? `${e.subject.slice(0, 12)}…` : '',
          noteOf(e),
        ]),
      ),
    )
    return {entries}
  }
}

function noteOf(entry: ShownEntry): string {
  if (entry.breakGlass) {
    const {accessId, review, reviewIndex, reviewer} = entry.breakGlass
    return `access ${accessId}, review ${review}${reviewIndex === undefined ? '' : ` (#${reviewIndex} by ${reviewer})`}`
  }
  if (entry.type === 'review' && entry.detail?.accessId !== undefined)
    return `access ${entry.detail.accessId} ${entry.detail.approved === true ? 'approved' : 'rejected'}`
  return ''
}
