import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {renderTable} from '../../lib/cli/output.js'
import {attestClaims, type AttestResult} from '../../lib/claims/index.js'

export default class ClaimsAttest extends BaseCommand<typeof ClaimsAttest> {
  static override summary = "Attest a patient's FHIR Claims on chain for a payer (custodian)."
  static override description = `Reads the patient's Claims from the vault (all of them, one by --claim, or the Claim in --file), hashes each with the SHA-256 of every resource it references in the patient's record (canonical JSON, RFC 8785), and attests the claim hash on chain for the payer: only the hash, the subject pseudonym and the payer's address go on chain. Writes one attestation file per claim into --out for the payer (the Claim, the leaf hashes of the Claim and the hashes of its supporting resources; never the supporting resources themselves, which belong to other data classes than claims), signed by this custodian as EIP-712 typed data ClaimAttestation(claimHash, subject, payer) in the registry's domain (chain id and registry address). A claim already attested is reported Duplicate and not sent again. Audited.

Exit codes: 0 ok (attested or already attested), 1 failure, 2 usage error, unknown patient or claim, E_ERASED.`

  static override examples = [
    '<%= config.bin %> claims attest --patient "http://hospital.example/mrn|12345" --payer payer --out attestations/',
    '<%= config.bin %> claims attest --patient "http://hospital.example/mrn|12345" --claim ee8c1706-160e-47e1-bccd-146e0caa3150 --payer 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --out attestations/ --json',
  ]

  static override flags = {
    profile: profileFlag,
    'rpc-timeout': rpcTimeoutFlag,
    patient: Flags.string({description: 'The patient, as system|value.', required: true}),
    claim: Flags.string({description: "The id of one Claim in the patient's record (default: every Claim).", exclusive: ['file']}),
    file: Flags.string({description: "A FHIR Claim (JSON) about the patient to attest instead of the record's.", exclusive: ['claim']}),
    payer: Flags.string({description: 'The payer: an address, or the name of a local profile.', required: true}),
    out: Flags.string({description: 'Folder the attestation files are written to (created if its parent exists).', required: true}),
  }

  async run(): Promise<AttestResult> {
    const session = this.openSession(this.flags.profile)
    const result = await attestClaims(session, {
      patient: this.flags.patient,
      ...(this.flags.claim ? {claimId: this.flags.claim} : {}),
      ...(this.flags.file ? {file: this.flags.file} : {}),
      payer: this.flags.payer,
      out: this.flags.out,
    })
    this.log(
      renderTable(
        ['claim', 'status', 'claim hash', 'supporting', 'file'],
        result.claims.map((c) => [c.claim, c.status, `${c.claimHash.slice(0, 18)}…`, c.supporting, c.file]),
      ),
    )
    this.note(
      `${result.attested} attested, ${result.duplicates} already attested, for payer ${result.payer} on registry ${result.registry} (chain ${result.chainId}).`,
    )
    return result
  }
}
