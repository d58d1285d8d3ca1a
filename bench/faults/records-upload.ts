/**
 * Fault job 2: `medctl records upload` to a Kubo-RPC-compatible node (the KuboMock the tests use:
 * Kubo's binary cannot be installed here), killed at a random point and run again. Each trial gets
 * a fresh node on a fresh port (a new upload target for the home), so the vault is imported once.
 */
import {createHash} from 'node:crypto'
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {EmbeddedStore, readAll, readUnixfs} from '../../src/lib/ipfs/index.js'
import {KuboMock} from '../../test/helpers/kubo-mock.js'
import {generate} from '../import/generate.js'
import {Tally, copyHome, killAfter, medctl, ok, summarise, type Home, type JobContext, type JobReport, type TrialReport} from './harness.js'

export interface UploadJobOptions {
  patients: number
  perPatient: number
}

interface UploadResult {
  uploaded: number
  skipped: number
  failed: number
}

/** A KuboMock that counts pins made, pin requests for what is already pinned, and re-adds of pinned content. */
class CountingNode {
  readonly mock = new KuboMock()
  /** cid -> times a pin was created for it (a pin request on an unpinned cid). */
  readonly pinsCreated = new Map<string, number>()
  /** Pin requests for a cid already pinned (idempotent; expected after a kill between pin and bookkeeping). */
  repins = 0
  /** Content added again although the node already held it pinned: a wasted, duplicated upload. */
  readdsOfPinned = 0

  constructor() {
    const {pins, blocks} = this.mock
    const addPin = pins.add.bind(pins)
    pins.add = (cid: string) => {
      if (pins.has(cid)) this.repins++
      else this.pinsCreated.set(cid, (this.pinsCreated.get(cid) ?? 0) + 1)
      return addPin(cid)
    }
    const setBlock = blocks.set.bind(blocks)
    blocks.set = (cid: string, bytes: Uint8Array) => {
      if (pins.has(cid)) this.readdsOfPinned++
      return setBlock(cid, bytes)
    }
  }

  async cat(cid: string): Promise<Buffer | undefined> {
    try {
      return await readAll(readUnixfs(cid, async (c) => this.mock.blocks.get(c)))
    } catch {
      return undefined
    }
  }
}

async function localBytes(home: Home): Promise<Map<string, Buffer>> {
  const db = new Database(resolvePaths({env: home.env}).database)
  try {
    const store = new EmbeddedStore(db)
    const objects = new Map<string, Buffer>()
    for (const {cid} of db.prepare('SELECT cid FROM objects ORDER BY cid').all() as Array<{cid: string}>)
      objects.set(cid, await readAll(store.cat(cid)))
    return objects
  } finally {
    db.close()
  }
}

function uploadedRows(home: Home, url: string): number {
  const db = new Database(resolvePaths({env: home.env}).database, {readonly: true})
  try {
    const target = createHash('sha256').update(url).digest('hex')
    return (db.prepare('SELECT COUNT(*) AS n FROM uploads WHERE target = ?').get(target) as {n: number}).n
  } finally {
    db.close()
  }
}

export async function recordsUploadJob(ctx: JobContext, options: UploadJobOptions): Promise<JobReport> {
  const input = join(ctx.work, 'input')
  await generate({patients: options.patients, perPatient: options.perPatient, out: input, seed: 19})
  const home = copyHome(ctx.template, join(ctx.work, 'home'))
  ok(await medctl(['records', 'import', input, '--no-anchor'], home), 'records import (upload job setup)')
  const local = await localBytes(home)
  const args = (url: string) => ['records', 'upload', '--kubo', url]

  const cleanNode = new CountingNode()
  const cleanUrl = await cleanNode.mock.start()
  const cleanRun = await medctl<UploadResult>(args(cleanUrl), home)
  const cleanResult = ok(cleanRun, 'clean records upload').result
  await cleanNode.mock.stop()
  if (cleanResult.uploaded !== local.size || cleanNode.mock.pins.size !== local.size)
    throw new Error(
      `the clean upload run is wrong: ${JSON.stringify(cleanResult)}, ${cleanNode.mock.pins.size} pins for ${local.size} objects`,
    )
  ctx.log(`records upload: clean run ${(cleanRun.ms / 1000).toFixed(1)} s, ${local.size} objects`)

  const trials: TrialReport[] = []
  const notes = {repins: 0}
  for (let trial = 1; trial <= ctx.trials; trial++) {
    const node = new CountingNode()
    const url = await node.mock.start()
    const t = new Tally()
    const delayMs = Math.round(ctx.random() * cleanRun.ms)
    try {
      const killed = await killAfter(args(url), home, delayMs)
      const rerun = await medctl<UploadResult>(args(url), home)
      t.expect(rerun.code === 0, `rerun exit ${rerun.code}: ${rerun.stdout.slice(0, 300)}`)
      t.addLost(rerun.envelope?.result.failed ?? 0, 'objects the rerun failed to upload')
      for (const [cid, bytes] of local) {
        if (!node.mock.pins.has(cid)) t.addLost(1, `object ${cid} not pinned`)
        else {
          const held = await node.cat(cid)
          if (!held) t.addLost(1, `object ${cid} pinned but its blocks are missing`)
          else t.expect(held.equals(bytes), `object ${cid} holds other bytes on the node`)
        }
      }
      t.addDuplicated(
        [...node.pinsCreated.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
        'objects pinned more than once',
      )
      t.addDuplicated(node.readdsOfPinned, 'objects uploaded again although already pinned')
      t.addWrong([...node.mock.pins].filter((cid) => !local.has(cid)).length, 'pins of content that is no vault object')
      t.expect(uploadedRows(home, url) === local.size, `the home records ${uploadedRows(home, url)} of ${local.size} objects as uploaded`)
      const third = await medctl<UploadResult>(args(url), home)
      const again = third.envelope?.result
      t.expect(
        third.code === 0 && again?.uploaded === 0 && again.skipped === local.size && again.failed === 0,
        `a third run is not a no-op: ${JSON.stringify(again)}`,
      )
      const verify = await medctl<{ok: boolean}>(['audit', 'verify', '--offline'], home)
      t.expect(verify.code === 0 && verify.envelope?.result.ok === true, '`audit verify --offline` fails')
      notes.repins += node.repins
      trials.push({
        trial,
        delayMs,
        killed: killed.killed,
        lost: t.lost,
        duplicated: t.duplicated,
        wrongState: t.wrongState,
        problems: t.problems,
      })
      ctx.log(
        `records upload trial ${trial}: kill at ${delayMs} ms${killed.killed ? '' : ' (finished first)'} -> ${t.clean ? 'ok' : t.problems.join('; ')}`,
      )
    } finally {
      await node.mock.stop()
    }
  }
  rmSync(input, {recursive: true, force: true})
  return summarise('records upload', `${local.size} objects to a Kubo-RPC node (KuboMock)`, cleanRun.ms, trials, notes)
}
