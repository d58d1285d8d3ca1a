import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {publishOwnRecipient} from '../../lib/app/registry.js'

export default class KeysPublish extends BaseCommand<typeof KeysPublish> {
  static override summary =
    "Publish this identity's age recipient in the registry's key directory, so custodians can share records with it."
  static override description = `The address itself sends the transaction (a signed binding). On the embedded chain, \`init\` and \`profile create\` do this already.

Exit codes: 0 ok (also when already published), 1 failure (E_BUSY: another command is writing to the home), 2 no registry.`

  static override examples = ['<%= config.bin %> keys publish --profile clinic', '<%= config.bin %> keys publish --json']
  static override flags = {profile: profileFlag}

  async run(): Promise<{address: string; recipient: string; published: boolean}> {
    const session = this.openSession(this.flags.profile)
    const result = await publishOwnRecipient(session)
    this.log(
      result.published
        ? `Published ${result.recipient} for ${result.address}.`
        : `${result.recipient} was already published for ${result.address}.`,
    )
    return result
  }
}
