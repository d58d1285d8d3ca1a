import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode, MedctlError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {resolveTrust} from '../../lib/audit/trust.js'
import {verifyExportRef} from '../../lib/export/delivery.js'
import type {ExportVerifyReport} from '../../lib/export/verify.js'

export default class ExportVerify extends BaseCommand<typeof ExportVerify> {
  static override summary =
    "Verify a research export you received — a directory, or a delivery (CAR file or CID): the custodian's signature on its manifest, its network, and every file's SHA-256."
  static override description = `Run it where the export arrives (the lab's own home, made with \`init --join network.json\`, or with --rpc-url and --registry and no profile at all). The manifest's signature is recovered over its canonical bytes (RFC 8785, EIP-191) and must come from the custodian of YOUR registry, read on YOUR chain (the registry's custodian(), else the account holding CUSTODIAN_ROLE): the signer, chain and registry the manifest names are reported, never believed. The manifest's chain id and registry must be yours and its pinned block one your chain has reached. Then every file the manifest lists is hashed (SHA-256) and the first that is missing or differs is named. Files the manifest does not list are reported as unlisted: nothing vouches for them. The report names what it checked against (custodian, registry, chain, block).

A delivered export (\`export research --deliver-to\`) is named by its CAR file or by its CID (read through this profile's content store): every block of a CAR file is checked against its CID (a damaged block of one file: E_FILE_ALTERED naming that file; of the package or the CAR's structure: E_CAR_CORRUPT), the sealed package is opened with this profile's age identity (E_NOT_FOR_YOU, exit 5, when it was sealed for someone else), each file is decrypted into a private staging directory and the whole is verified as above. With --out DIR (new or empty) an export that verifies is written there; without --out, or when it fails, nothing is left on disk. The receipt, kept, refused or failed, is written to this home's audit log.

Codes of a failed verification (exit 4): E_CAR_CORRUPT (a delivered CAR file is damaged), E_BAD_PACKAGE, E_MANIFEST_MISSING, E_MANIFEST_INVALID, E_MANIFEST_PATH (a listed path leaves the directory), E_MANIFEST_CHAIN, E_MANIFEST_REGISTRY, E_MANIFEST_BLOCK, E_MANIFEST_UNSIGNED, E_MANIFEST_SIGNER, E_FILE_MISSING, E_FILE_ALTERED.

Exit codes: 0 authentic and intact, 1 failure (chain unreachable: E_RPC_UNAVAILABLE), 2 usage error (no such directory, CAR file or CID: E_NO_EXPORT; --out not new or empty: E_BAD_OUT; no profile and no --rpc-url/--registry: E_NO_PROFILE; no registry contract at that address: E_NO_REGISTRY_CONTRACT), 4 verification failed (code and firstBadFile say why), 5 a delivery sealed for another recipient (E_NOT_FOR_YOU).`

  static override examples = [
    '<%= config.bin %> export verify study-42',
    '<%= config.bin %> export verify study-42.car --out study-42',
    '<%= config.bin %> export verify study-42 --rpc-url https://rpc.consortium.example --registry 0x5FbDB2315678afecb367f032d93F642f64180aa3 --json | jq .result.firstBadFile',
  ]

  static override flags = {
    profile: profileFlag,
    'rpc-url': Flags.string({description: 'Your JSON-RPC endpoint (with --registry, no profile is needed).', env: 'MEDCTL_RPC_URL'}),
    registry: Flags.string({description: "Your ConsentRegistry address (default: the profile's chain.registry).", env: 'MEDCTL_REGISTRY'}),
    out: Flags.string({
      description: 'For a delivered export (CAR file or CID): write its files to this new or empty directory once they verify.',
    }),
  }

  static override args = {
    dir: Args.string({
      description: 'The export directory (holding manifest.json), or a delivered export: its CAR file or CID.',
      required: true,
    }),
  }

  static override writesHome = false

  /** A delivery is decrypted with this profile's identity and its receipt audited in this home: that takes the writer lock. */
  private receivingSession() {
    const session = this.openSession(this.flags.profile)
    this.lockHome()
    return session
  }

  async run(): Promise<Omit<ExportVerifyReport, 'exitCode'>> {
    let trust
    try {
      trust = await resolveTrust({rpcUrl: this.flags['rpc-url'], registry: this.flags.registry}, () => this.openSession(this.flags.profile))
    } catch (error) {
      if (error instanceof MedctlError && error.code === 'E_NO_PROFILE') {
        throw new MedctlError(
          'E_NO_PROFILE',
          'No profile to take the chain from: name your chain with --rpc-url and --registry, or run this in a home made with `medctl init --join network.json`.',
          {
            exitCode: ExitCode.USAGE,
            suggestions: ['medctl export verify DIR --rpc-url URL --registry 0xREGISTRY'],
          },
        )
      }
      throw error
    }
    if (trust.mode !== 'chain') throw new MedctlError('E_INTERNAL', 'export verify needs the chain.')
    let report: ExportVerifyReport
    try {
      report = await verifyExportRef(this.args.dir, {
        roots: {provider: trust.provider, registry: trust.registry},
        out: this.flags.out,
        session: () => this.receivingSession(),
      })
    } finally {
      trust.close()
    }
    const {exitCode, ...result} = report
    const against = result.checkedAgainst
    const intact = result.files.filter((f) => f.status === 'ok').length
    this.log(
      renderFields({
        ok: result.ok,
        ...(result.delivery
          ? {
              delivery: `${result.delivery.files} files from ${result.delivery.kind === 'car' ? 'a CAR file' : `the ${result.delivery.kind} store`} (package ${result.delivery.packageCid})${result.delivery.out ? `, written to ${result.delivery.out}` : ', not kept'}`,
            }
          : {}),
        ...(result.ok
          ? {}
          : {
              code: result.code,
              ...(result.firstBadFile === undefined ? {} : {'first bad file': result.firstBadFile}),
              problem: result.problem,
            }),
        files: result.files.length ? `${intact} of ${result.files.length} intact` : 'not checked',
        signer: result.signer ?? 'none',
        ...(result.manifest
          ? {
              'manifest claims': `chain ${result.manifest.chainId}, registry ${result.manifest.contract}, block ${result.manifest.block}, signer ${result.manifest.claimedSigner ?? 'none'}`,
            }
          : {}),
        'checked against': against
          ? `custodian ${against.custodian ?? '(none)'} [${against.custodianFrom}], registry ${against.registry}, chain ${against.chainId}, block ${against.block}`
          : 'nothing (the manifest could not be read)',
      }),
    )
    if (result.unlisted.length > 0)
      this.warn(
        `${result.unlisted.length} file(s) in the directory are not listed in the manifest, so nothing vouches for them: ${result.unlisted.slice(0, 5).join(', ')}${result.unlisted.length > 5 ? ', …' : ''}`,
      )
    if (exitCode !== ExitCode.OK) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
