import {createHash} from 'node:crypto'
import {EmbeddedStore, type KuboStore} from '../ipfs/index.js'
import type {Db} from './database.js'
import {RecordIndex} from './record-index.js'

export interface UploadOptions {
  db: Db
  custodianAddress: string
  target: Pick<KuboStore, 'addFrom' | 'has' | 'pin'>
  /** Identifies the target in the resume table (the Kubo URL; hashed, never stored in clear). */
  targetId: string
  /** Extra CIDs to replicate besides the record objects (access packages, published logs). */
  extraCids?: string[]
  onProgress?: (event: {phase: string; done: number; total: number; unit: string}) => void
}

export interface UploadResult {
  uploaded: number
  skipped: number
  failed: number
  bytes: number
  failures: Array<{cid: string; message: string}>
}

/**
 * Copies every object the target does not have yet and pins it. Resumable: what was confirmed is
 * recorded per target, and the target is asked (`has`) before sending anything.
 */
export async function uploadObjects(options: UploadOptions): Promise<UploadResult> {
  const index = new RecordIndex(options.db, options.custodianAddress)
  const local = new EmbeddedStore(options.db)
  const target = createHash('sha256').update(options.targetId).digest('hex')
  const cids = [...new Set([...index.objects().map((o) => o.cid), ...(options.extraCids ?? [])])]
  const result: UploadResult = {uploaded: 0, skipped: 0, failed: 0, bytes: 0, failures: []}
  let done = 0
  for (const cid of cids) {
    try {
      if (index.isUploaded(cid, target)) {
        result.skipped++
      } else if (await options.target.has(cid)) {
        await options.target.pin(cid)
        index.markUploaded(cid, target, 0)
        result.skipped++
      } else {
        const added = await options.target.addFrom(() => local.cat(cid))
        if (added.cid !== cid) throw new Error(`the node computed ${added.cid} for ${cid}: its add options differ from medctl's (CIDv1, raw leaves, 256 KiB chunks)`)
        await options.target.pin(cid)
        index.markUploaded(cid, target, added.size)
        result.uploaded++
        result.bytes += added.size
      }
    } catch (error) {
      result.failed++
      result.failures.push({cid, message: error instanceof Error ? error.message : String(error)})
    }
    options.onProgress?.({phase: 'uploading', done: ++done, total: cids.length, unit: 'objects'})
  }
  return result
}
