import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode} from '../../lib/core/errors.js'
import {renderFields} from '../../lib/cli/output.js'
import {openLocalBlocks} from '../../lib/ipfs/index.js'
import {openDatabase} from '../../lib/db/database.js'

export interface StoreVerifyResult {
  ok: boolean
  checked: number
  corrupt: string[]
  missing: string[]
}

export default class StoreVerify extends BaseCommand<typeof StoreVerify> {
  static override summary = 'Re-hash every block of the local store and report missing or corrupt ones.'
  static override description = `Checks each block against its CID and walks every indexed object's DAG, so a deleted block or a flipped bit is found.

Exit codes: 0 intact, 1 failure, 4 missing or corrupt blocks.`

  static override examples = ['<%= config.bin %> store verify', '<%= config.bin %> store verify --json | jq .result.corrupt']

  async run(): Promise<StoreVerifyResult> {
    const db = openDatabase(this.paths)
    const roots = (db.prepare('SELECT DISTINCT cid FROM objects').all() as Array<{cid: string}>).map((r) => r.cid)
    const report = await openLocalBlocks(db).verify(roots)
    const result = {ok: report.corrupt.length === 0 && report.missing.length === 0, ...report}
    this.log(renderFields({ok: result.ok, checked: result.checked, corrupt: result.corrupt.length, missing: result.missing.length}))
    if (!result.ok) this.setExitCode(ExitCode.VERIFY_FAILED)
    return result
  }
}
