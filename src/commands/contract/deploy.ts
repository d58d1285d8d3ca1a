import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {deployRegistryForProfile} from '../../lib/app/registry.js'

export default class ContractDeploy extends BaseCommand<typeof ContractDeploy> {
  static override summary = 'Deploy a ConsentRegistry with this profile as admin and custodian, and record its address in the profile.'
  static override description = `\`init\` and \`demo\` deploy on the embedded chain by themselves; use this for another chain (after \`profile set chain.rpcUrl\`). The profile's wallet pays the gas and receives the admin, custodian and emergency roles; its age recipient is published in the key directory.

Exit codes: 0 ok, 1 failure (no funds, chain unreachable), 2 usage error.`

  static override examples = [
    '<%= config.bin %> contract deploy',
    '<%= config.bin %> contract deploy --profile besu --json | jq -r .result.address',
  ]
  static override flags = {profile: profileFlag}

  async run(): Promise<{address: string; txHash: string; blockNumber: number; profile: string}> {
    const session = this.openSession(this.flags.profile)
    const deployed = await deployRegistryForProfile(session)
    this.log(`ConsentRegistry deployed at ${deployed.address} (tx ${deployed.txHash}); recorded in profile "${deployed.profile}".`)
    return deployed
  }
}
