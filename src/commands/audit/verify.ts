import {existsSync} from 'node:fs'
import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, MedctlError} from '../../lib/cli/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {chainAnchors, fetchPublishedLog, readHeads, verifyLog, type VerifyResult} from '../../lib/audit/index.js'
import {EmbeddedStore} from '../../lib/ipfs/index.js'
import {openDatabase} from '../../lib/vault/database.js'

export default class AuditVerify extends BaseCommand<typeof AuditVerify> {
  static override summary = 'Verify the audit log: recompute the Merkle tree, check every anchored head and signature, name the first bad entry.'
  static override description = `Recomputes the RFC 9162 tree over the entries as stored, checks the hash chain between entries, the custodian's signature on every tree head, that every head is anchored on chain with the same root, consistency proofs between anchors, and the newest anchor against the entries. With --log it verifies another log: a directory, or the CID of a log published with \`audit publish\`. --offline skips the chain (signatures and tree only).

Exit codes: 0 intact, 1 failure, 2 usage error, 4 verification failed (firstBadIndex names the first entry that differs, counting from 0).`

  static override examples = [
    '<%= config.bin %> audit verify',
    '<%= config.bin %> audit verify --log bafy… --json',
    '<%= config.bin %> audit verify --log /mnt/evidence/audit --offline',
  ]

  static override flags = {
    profile: profileFlag,
    log: Flags.string({description: 'A log directory or the CID of a published log (default: this home\'s log).'}),
    offline: Flags.boolean({description: 'Do not read anchors from the chain.'}),
  }

  async run(): Promise<Omit<VerifyResult, 'exitCode'>> {
    let dir = this.paths.auditDir
    if (this.flags.log) {
      if (existsSync(this.flags.log)) dir = this.flags.log
      else if (/^baf[a-z0-9]+$/.test(this.flags.log)) dir = await fetchPublishedLog(this.flags.log, new EmbeddedStore(openDatabase(this.paths)))
      else throw new MedctlError('E_NO_LOG', 'No such log directory, and not a CID.', {exitCode: 2})
    }
    let anchors
    let custodian: string | undefined
    if (!this.flags.offline) {
      const session = this.openSession(this.flags.profile)
      const registry = readHeads(dir).at(-1)?.registry ?? session.profile.chain.registry
      anchors = registry ? await chainAnchors(session, registry) : []
      custodian = session.profile.role === 'custodian' ? session.identity().address : undefined
    }
    const {exitCode, ...result} = verifyLog(dir, anchors, custodian)
    this.log(renderFields({ok: result.ok, entries: result.entries, root: result.root, heads: result.heads, anchors: result.anchors, ...(result.ok ? {} : {'first bad entry': result.firstBadIndex, problem: result.problem})}))
    if (exitCode !== ExitCode.OK) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
