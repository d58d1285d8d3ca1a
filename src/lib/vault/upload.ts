import {createHash} from 'node:crypto'
import {MedctlError} from '../core/errors.js'
import type {ContentSource, KuboStore} from '../ipfs/index.js'
import type {Db} from '../db/database.js'
import {RecordIndex} from './record-index.js'

export interface UploadOptions {
  db: Db
  custodianAddress: string
  /** Where the objects are read: the home's own blocks (`openLocalBlocks`). */
  source: Pick<ContentSource, 'cat'>
  target: Pick<KuboStore, 'addFrom' | 'has' | 'pin'> & {probe?: () => Promise<void>}
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
 *
 * Fails fast: the target is probed before the first object, and a node that does not answer
 * (E_STORE_UNAVAILABLE — down at the start, or gone mid-job) ends the whole job at once; what was
 * confirmed stays recorded, so the re-run resumes. Only failures of single requests to a node that
 * answers are counted per object (exit 3).
 */
export async function uploadObjects(options: UploadOptions): Promise<UploadResult> {
  const index = new RecordIndex(options.db, options.custodianAddress)
  const target = createHash('sha256').update(options.targetId).digest('hex')
  const cids = [...new Set([...index.objects({attachments: 'include'}).map((o) => o.cid), ...(options.extraCids ?? [])])]
  const result: UploadResult = {uploaded: 0, skipped: 0, failed: 0, bytes: 0, failures: []}
  let done = 0
  await options.target.probe?.()
  for (const cid of cids) {
    try {
      if (index.isUploaded(cid, target)) {
        result.skipped++
      } else if (await options.target.has(cid)) {
        await options.target.pin(cid)
        index.markUploaded(cid, target, 0)
        result.skipped++
      } else {
        const added = await options.target.addFrom(() => options.source.cat(cid))
        if (added.cid !== cid)
          throw new Error(
            `the node computed ${added.cid} for ${cid}: its add options differ from medctl's (CIDv1, raw leaves, 256 KiB chunks)`,
          )
        await options.target.pin(cid)
        index.markUploaded(cid, target, added.size)
        result.uploaded++
        result.bytes += added.size
      }
    } catch (error) {
      if (error instanceof MedctlError && error.code === 'E_STORE_UNAVAILABLE') throw error
      result.failed++
      result.failures.push({cid, message: error instanceof Error ? error.message : String(error)})
    }
    options.onProgress?.({phase: 'uploading', done: ++done, total: cids.length, unit: 'objects'})
  }
  return result
}
