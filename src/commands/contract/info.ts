import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {consentContext} from '../../lib/consent/context.js'

export default class ContractInfo extends BaseCommand<typeof ContractInfo> {
  static override summary = "Show the profile's ConsentRegistry: address, chain, roles of this identity, anchors."
  static override description = `Exit codes: 0 ok, 1 failure, 2 no registry.`
  static override examples = ['<%= config.bin %> contract info', '<%= config.bin %> contract info --json']
  static override flags = {profile: profileFlag}

  async run(): Promise<{
    address: string
    chainId: number
    block: number
    custodian: boolean
    emergency: boolean
    anchors: number
    recipient: string | null
  }> {
    const session = this.openSession(this.flags.profile)
    const ctx = await consentContext(session, {write: false})
    const me = session.identity().address
    const [custodianRole, emergencyRole] = (await Promise.all([ctx.registry.CUSTODIAN_ROLE(), ctx.registry.EMERGENCY_ROLE()])) as [
      string,
      string,
    ]
    const result = {
      address: ctx.address,
      chainId: ctx.chainId,
      block: await (await session.chainProvider()).getBlockNumber(),
      custodian: (await ctx.registry.hasRole(custodianRole, me)) as boolean,
      emergency: (await ctx.registry.hasRole(emergencyRole, me)) as boolean,
      anchors: Number(await ctx.registry.anchorCount()),
      recipient: /^0x0+$/.test((await ctx.registry.recipientOf(me)) as string) ? null : session.identity().recipient,
    }
    this.log(renderFields(result))
    return result
  }
}
