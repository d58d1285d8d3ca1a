import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag, rpcTimeoutFlag} from '../../lib/cli/flags.js'
import {admitRegistration, type AdmitResult} from '../../lib/app/network.js'

export default class NetworkAdmit extends BaseCommand<typeof NetworkAdmit> {
  static override summary = "Relay a member's signed registration into the key directory, so the member needs no funds."
  static override description = `The file is what \`medctl init --join\` wrote in the member's home: the member's address and age recipient, signed by the member (EIP-712, the registry's domain, a per-account nonce, a deadline). medctl checks it against this profile's own registry and chain (never the file's word), verifies the signature, and sends it with this profile's wallet (the custodian pays the gas); the contract accepts each signature once. The admission is written to the audit log. Admitting a member whose key is already registered is a no-op (exit 0).

Exit codes: 0 ok (also when already registered), 1 failure (E_RPC_UNAVAILABLE, E_BUSY), 2 usage error (E_BAD_REGISTRATION, E_REGISTRATION_STALE: used or replaced, E_SIGNATURE_EXPIRED), 4 the file is for another network or its signature is not the member's (E_NETWORK_MISMATCH, E_BAD_REGISTRATION).`

  static override examples = [
    '<%= config.bin %> network admit clinic-registration.json',
    '<%= config.bin %> network admit registration-participant.json --json | jq .result.status',
  ]

  static override flags = {profile: profileFlag, 'rpc-timeout': rpcTimeoutFlag}
  static override args = {file: Args.string({description: 'The registration file the member sent.', required: true})}

  async run(): Promise<AdmitResult> {
    const session = this.openSession(this.flags.profile)
    const result = await admitRegistration(session, this.args.file)
    if (result.status === 'already-registered')
      this.log(`${result.account} already has ${result.recipient} in the key directory: nothing to do.`)
    else
      this.log(
        `Admitted ${result.account}: ${result.recipient} is in the key directory of ${result.registry} (${result.txHash}, gas ${result.gasUsed}).`,
      )
    return result
  }
}
