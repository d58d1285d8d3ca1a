import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {consentContext} from '../../lib/consent/context.js'
import {lookupRecipient, publishRecipient} from '../../lib/consent/index.js'

export default class KeysPublish extends BaseCommand<typeof KeysPublish> {
  static override summary = 'Publish this identity\'s age recipient in the registry\'s key directory, so custodians can share records with it.'
  static override description = `The address itself sends the transaction (a signed binding). On the embedded chain, \`init\` and \`profile create\` do this already.

Exit codes: 0 ok (also when already published), 1 failure (E_BUSY: another command is writing to the home), 2 no registry.`

  static override examples = ['<%= config.bin %> keys publish --profile clinic', '<%= config.bin %> keys publish --json']
  static override flags = {profile: profileFlag}

  async run(): Promise<{address: string; recipient: string; published: boolean}> {
    const session = this.openSession(this.flags.profile)
    const ctx = await consentContext(session, {write: true})
    const {address, recipient} = session.identity()
    const already = (await lookupRecipient(ctx.registry, address)) === recipient
    if (!already) {
      await publishRecipient(ctx.registry, recipient)
      await session.chainWritten()
    }
    this.log(already ? `${recipient} was already published for ${address}.` : `Published ${recipient} for ${address}.`)
    return {address, recipient, published: !already}
  }
}
