import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {CID} from 'multiformats/cid'
import {MedctlError} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {openContentStore} from '../../lib/ipfs/index.js'

export default class StoreCat extends BaseCommand<typeof StoreCat> {
  static override summary = 'Write the raw stored bytes of a CID to stdout (e.g. to pipe into `age -d`).'
  static override description = `Reads through the profile's content store (embedded, or its Kubo node), checking every block against its CID. The bytes are exactly what is stored: record objects are age ciphertext. With --json, the result describes the object instead of printing it.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE: the Kubo node is down), 2 unknown or malformed CID, 4 a block is missing or corrupt.`

  static override examples = [
    '<%= config.bin %> store cat bafy… > object.age',
    '<%= config.bin %> store cat bafy… | age -d -i key.txt',
    '<%= config.bin %> store cat bafy… --json',
  ]
  static override flags = {profile: profileFlag}
  static override args = {cid: Args.string({description: 'The content identifier.', required: true})}

  async run(): Promise<{cid: string; bytes: number}> {
    let cid: string
    try {
      cid = CID.parse(this.args.cid).toString()
    } catch {
      throw new MedctlError('E_BAD_CID', 'That is not a CID (bafy…).', {exitCode: 2})
    }
    const store = openContentStore(this.openSession(this.flags.profile))
    if (store.kind === 'embedded' && !(await store.has(cid)))
      throw new MedctlError('E_CID_NOT_FOUND', 'No such CID in the local store.', {exitCode: 2})
    let bytes = 0
    for await (const chunk of store.cat(cid)) {
      bytes += chunk.length
      if (!this.jsonEnabled())
        await new Promise<void>((resolve, reject) => process.stdout.write(chunk, (error) => (error ? reject(error) : resolve())))
    }
    return {cid: this.args.cid, bytes}
  }
}
