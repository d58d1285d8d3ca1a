import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {logReference, resolveTrust, verifyLogRef, type LogVerifyReport} from '../../lib/audit/index.js'
import {openContentStore} from '../../lib/ipfs/index.js'

export default class AuditVerify extends BaseCommand<typeof AuditVerify> {
  static override summary =
    'Verify the audit log against your own chain, registry and custodian; name the first bad entry and the unanchored tail.'
  static override description = `Recomputes the RFC 9162 tree over the entries as stored and checks the hash chain between entries. The anchors come from YOUR registry (profile chain.registry, or --rpc-url and --registry, which need no profile), read at one pinned block: the first is compared with the recomputed root, each later one is reached by a consistency proof from the one before. Every signed tree head in the log must be signed by the custodian (--custodian, else the registry's custodian: the account holding CUSTODIAN_ROLE there), for your registry and chain, and be anchored there. Nothing the log says about its own registry or signer is believed. The report names what it checked against (signer, registry, chain, block), how many entries the newest anchor covers and how many it does not (the unanchored tail, which only the hash chain protects).

With --log it verifies another log: a directory, a CAR file written by \`audit publish --out\` (every block is checked against its CID before anything in it is used: a damaged file is E_CAR_CORRUPT, exit 4), or the CID of a published log, read through your own content store (your Kubo node fetches it from the network). The published log's own heads are evidence, never trust: it is checked against the anchors of YOUR registry, like any other. --offline skips the chain: signatures are checked against --custodian (or your custodian profile's own key), and anchors are not checked.

Exit codes: 0 intact, 1 failure (chain unreachable), 2 usage error (no profile and no --rpc-url/--registry, no registry contract at that address, E_NO_LOG: --log names nothing, E_NOT_AN_AUDIT_LOG), 4 verification failed (code names why; firstBadIndex is the first entry that differs, counting from 0, or the first entry no intact anchor vouches for, with lastBadIndex closing the range).`

  static override examples = [
    '<%= config.bin %> audit verify',
    '<%= config.bin %> audit verify --log /mnt/evidence/audit --rpc-url https://rpc.example --registry 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json',
    '<%= config.bin %> audit verify --log audit-2026-11.car --require-anchored',
    '<%= config.bin %> audit verify --log bafy… --json | jq .result.root',
    '<%= config.bin %> audit verify --log /mnt/evidence/audit --offline --custodian 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  ]

  static override flags = {
    profile: profileFlag,
    log: Flags.string({
      description: "A log directory, a CAR file from `audit publish --out`, or the CID of a published log (default: this home's log).",
    }),
    offline: Flags.boolean({description: 'Do not read the chain: anchors are not checked, signers only against --custodian.'}),
    'rpc-url': Flags.string({description: 'Your JSON-RPC endpoint (with --registry, no profile is needed).'}),
    registry: Flags.string({description: "Your ConsentRegistry address (default: the profile's chain.registry)."}),
    custodian: Flags.string({description: "The custodian address heads must be signed by (default: the registry's custodian)."}),
    'require-anchored': Flags.boolean({description: 'Fail (exit 4) when entries exist that no anchor covers.'}),
  }

  async run(): Promise<Omit<LogVerifyReport, 'exitCode'>> {
    const ref = logReference(this.flags.log, this.paths.auditDir)
    const report = await verifyLogRef(
      ref,
      () =>
        resolveTrust(
          {offline: this.flags.offline, rpcUrl: this.flags['rpc-url'], registry: this.flags.registry, custodian: this.flags.custodian},
          () => this.openSession(this.flags.profile),
        ),
      {requireAnchored: this.flags['require-anchored'], store: () => openContentStore(this.openSession(this.flags.profile))},
    )
    const {exitCode, ...result} = report
    const against = result.checkedAgainst
    this.log(
      renderFields({
        ok: result.ok,
        ...(result.log.cid
          ? {log: `${result.log.cid} (${result.log.kind === 'car' ? 'CAR file, every block checked' : 'from your content store'})`}
          : {}),
        ...(result.ok
          ? {}
          : {
              code: result.code,
              'first bad entry':
                result.lastBadIndex === undefined
                  ? result.firstBadIndex
                  : `${result.firstBadIndex} (somewhere in ${result.firstBadIndex}…${result.lastBadIndex})`,
              problem: result.problem,
            }),
        entries: result.entries,
        'anchored entries': result.anchoredEntries,
        unanchored:
          result.unanchored === 0
            ? 0
            : result.ok
              ? `${result.unanchored} (entries ${result.anchoredEntries}…${result.entries - 1}: not anchored, only the hash chain protects them)`
              : `${result.unanchored} (entries ${result.anchoredEntries}…${result.entries - 1}: no intact anchor covers them)`,
        root: result.root,
        heads: result.heads,
        'head signers': result.signers.length ? result.signers.join(', ') : 'none',
        anchors: result.anchors === null ? 'not checked (offline)' : result.anchors,
        'checked against':
          against.mode === 'chain'
            ? `custodian ${against.custodian?.join(', ') || '(none of the signers holds the role)'} [${against.custodianFrom}], registry ${against.registry}, chain ${against.chainId}, block ${against.block}`
            : `offline: custodian ${against.custodian?.join(', ') ?? 'not given (signers unverified)'}${against.registry ? `, registry ${against.registry}` : ''}`,
      }),
    )
    if (result.ok && result.unanchored > 0)
      this.warn(
        `${result.unanchored} entries after the newest anchor (${result.anchoredEntries}…${result.entries - 1}) are not anchored: an edit or a cut there cannot be proven from the chain. Run \`medctl audit anchor\` (custodian).`,
      )
    if (against.mode === 'offline') this.warn('Offline: anchors were not checked against any chain.')
    if (result.openIntents.length > 0)
      this.warn(
        `${result.openIntents.length} write-ahead intent(s) have no outcome (entries ${result.openIntents
          .slice(0, 5)
          .map((i) => `${i.index} ${i.type}${i.job === undefined ? '' : ` job ${i.job}`}`)
          .join(
            ', ',
          )}${result.openIntents.length > 5 ? ', …' : ''}): an act a crash interrupted; the entries after it say what was redone.`,
      )
    if (exitCode !== ExitCode.OK) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
