import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {verifyClaims, type VerifyClaimsResult} from '../../lib/claims/index.js'

export default class ClaimsVerify extends BaseCommand<typeof ClaimsVerify> {
  static override summary = 'Verify FHIR Claims against their on-chain attestations (payer).'
  static override description = `Reads Claims, Bundles, NDJSON (as \`records show\` or a payer's own system writes them) and claim attestation files from the files and folders given, and says per claim: Verified, NotAttested, Altered (naming the element of the Claim, or the supporting resource, that differs), Duplicate (the same claim twice in the input) or NoConsent (this profile has no active HPAYMT consent for the patient's claims class). A Claim is checked against the attestation file of the same Claim when one is in the input; the hash is looked up on this profile's own registry, never one named by a file. An attestation file must carry the custodian's EIP-712 signature of (claim hash, subject, payer) for this profile's chain id, registry and address, by the registry's custodian(): a file with no signature, or one by another key or for other values, makes the claim NotAttested (the file is not the custodian's attestation); Altered is kept for a Claim or supporting resource that differs from an authentic (signed and anchored) digest. Writes a report (hashes and codes only under the home; everything with --report) and audits each claim.

Exit codes: 0 all verified, 1 failure, 2 usage error, 4 any claim altered, not attested or duplicated, 5 consent missing (and nothing worse).`

  static override examples = [
    '<%= config.bin %> claims verify attestations/ --profile payer',
    '<%= config.bin %> claims verify claims.ndjson attestations/ --profile payer --report verify-report.json --json | jq .result.summary',
  ]

  static override args = {paths: Args.string({description: 'Files or folders of Claims, Bundles, NDJSON and attestation files.'})}
  static override strict = false

  static override flags = {
    profile: profileFlag,
    'rpc-timeout': rpcTimeoutFlag,
    report: Flags.string({description: 'Also write the full report (claim ids and files included) to this file.'}),
  }

  async run(): Promise<VerifyClaimsResult> {
    const session = this.openSession(this.flags.profile)
    const result = await verifyClaims(session, {paths: this.positionals, ...(this.flags.report ? {reportPath: this.flags.report} : {})})
    this.log(
      renderTable(
        ['claim', 'status', 'differs / reason'],
        result.claims.map((c) => [c.claim, c.status, c.differs?.join(', ') ?? c.reason ?? '']),
      ),
    )
    this.note(
      `Summary: ${Object.entries(result.summary)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}. Checked against registry ${result.checkedAgainst.registry} (chain ${result.checkedAgainst.chainId}, block ${result.checkedAgainst.block}) for payer ${result.checkedAgainst.payer}, signatures by custodian ${result.checkedAgainst.custodian}. Report: ${result.report}`,
    )
    this.setExitCode(result.exitCode)
    return result
  }
}
