import {Args} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {MedctlError} from '../../lib/cli/errors.js'
import {EmbeddedStore} from '../../lib/ipfs/index.js'
import {openDatabase} from '../../lib/vault/database.js'

export default class StoreCat extends BaseCommand<typeof StoreCat> {
  static override summary = 'Write the raw stored bytes of a CID to stdout (e.g. to pipe into `age -d`).'
  static override description = `The bytes are exactly what is stored: record objects are age ciphertext. With --json, the result describes the object instead of printing it.

Exit codes: 0 ok, 1 failure, 2 unknown or malformed CID, 4 a block is missing or corrupt.`

  static override examples = ['<%= config.bin %> store cat bafy… > object.age', '<%= config.bin %> store cat bafy… | age -d -i key.txt', '<%= config.bin %> store cat bafy… --json']
  static override args = {cid: Args.string({description: 'The content identifier.', required: true})}

  async run(): Promise<{cid: string; bytes: number}> {
    const store = new EmbeddedStore(openDatabase(this.paths))
    if (!(await store.has(this.args.cid))) throw new MedctlError('E_CID_NOT_FOUND', 'No such CID in the local store.', {exitCode: 2})
    let bytes = 0
    for await (const chunk of store.cat(this.args.cid)) {
      bytes += chunk.length
      if (!this.jsonEnabled()) await new Promise<void>((resolve, reject) => process.stdout.write(chunk, (error) => (error ? reject(error) : resolve())))
    }
    return {cid: this.args.cid, bytes}
  }
}
