import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {ExitCode} from '../../lib/core/errors.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import type {UploadResult} from '../../lib/vault/upload.js'
import {uploadRecords} from '../../lib/vault/use-cases.js'

export default class RecordsUpload extends BaseCommand<typeof RecordsUpload> {
  static override summary = 'Replicate every stored object to a Kubo (IPFS) node and pin it; resumable.'
  static override description = `Copies each encrypted record object the node does not have yet (same CIDs: CIDv1, raw leaves, 256 KiB chunks) and pins it. The node is probed first: one that does not answer (connection refused, no answer within min(--timeout-ms, 5 s)) fails the whole job at once with E_STORE_UNAVAILABLE, as does one that goes down mid-job; once it has answered, a failed request is retried with backoff and then counted against its object. Re-running skips what the node already holds.

Exit codes: 0 ok, 1 failure (E_STORE_UNAVAILABLE: the node is down or unreachable), 2 usage error (no Kubo URL), 3 partial (some objects failed).`

  static override examples = [
    '<%= config.bin %> records upload --kubo http://127.0.0.1:5001',
    'MEDCTL_KUBO_URL=http://ipfs.internal:5001 <%= config.bin %> records upload --json',
  ]

  static override flags = {
    profile: profileFlag,
    kubo: Flags.string({description: "Kubo RPC URL (default: the profile's store.url).", env: 'MEDCTL_KUBO_URL'}),
    'timeout-ms': Flags.integer({description: 'Timeout of each request to the node.', default: 30_000, min: 100}),
    retries: Flags.integer({description: 'Retries of a failed request (exponential backoff).', default: 4, min: 0}),
  }

  async run(): Promise<UploadResult> {
    const session = this.openSession(this.flags.profile)
    const progress = this.progress()
    try {
      const result = await uploadRecords(session, {
        ...(this.flags.kubo ? {kuboUrl: this.flags.kubo} : {}),
        timeoutMs: this.flags['timeout-ms'],
        retries: this.flags.retries,
        onProgress: progress.update,
      })
      this.log(renderFields({uploaded: result.uploaded, skipped: result.skipped, failed: result.failed, bytes: result.bytes}))
      if (result.failed > 0) {
        for (const failure of result.failures.slice(0, 5)) this.warn(`${failure.cid}: ${failure.message}`)
        this.setExitCode(ExitCode.PARTIAL)
      }
      return result
    } finally {
      progress.finish()
    }
  }
}
