/**
 * Fault job 1: `medctl records import` of generated Bulk Data NDJSON (plus three bad lines), killed
 * at a random point, then run again to completion, compared with a clean run into a copy of the
 * same initialised home (same keys, so ledger rows and subjects compare exactly).
 */
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {Keystore} from '../../src/lib/config/keystore.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {EmbeddedStore} from '../../src/lib/ipfs/index.js'
import {readObject} from '../../src/lib/vault/read.js'
import {generate} from '../import/generate.js'
import {
  PASSPHRASE,
  Tally,
  copyHome,
  killAfter,
  medctl,
  missingFrom,
  ok,
  summarise,
  type Home,
  type JobContext,
  type JobReport,
  type TrialReport,
} from './harness.js'

export interface ImportJobOptions {
  patients: number
  perPatient: number
}

interface ImportResult {
  read: number
  imported: number
  duplicates: number
  rejected: number
}

/** Lines the reader must reject, each with its reason (they share a file with nothing valid). */
const BAD_LINES = [
  '{"resourceType": "Observation", "id": "torn",',
  JSON.stringify({
    resourceType: 'Observation',
    id: 'orphan-1',
    status: 'final',
    code: {text: 'Glucose'},
    subject: {reference: 'Patient/not-in-this-import'},
  }),
  JSON.stringify({id: 'no-type', status: 'final'}),
]

interface Snapshot {
  /** type/id -> how many times it is stored across the decrypted objects. */
  stored: Map<string, number>
  /** type/id -> SHA-256 of the stored JSON. */
  content: Map<string, string>
  /** What each resource became: key hash, content hash, subject, class, one per ledger row. */
  ledger: Set<string>
  objects: Array<{cid: string; resources: number; ledgerRows: number}>
  undecryptable: number
  runningJobs: number
  lastJobStatus: string | undefined
  /** records list: subject -> resources and classes. */
  listing: Map<string, string>
  /** Committed objects with no import audit entry naming their CID. */
  unaudited: number
  auditOk: boolean
}

export async function snapshot(home: Home): Promise<Snapshot> {
  const paths = resolvePaths({env: home.env})
  const identity = await new Keystore(paths).unlock('local', PASSPHRASE)
  const db = new Database(paths.database)
  const stored = new Map<string, number>()
  const content = new Map<string, string>()
  let undecryptable = 0
  try {
    const store = new EmbeddedStore(db)
    const objects = db
      .prepare(
        'SELECT o.cid AS cid, o.resources AS resources, (SELECT COUNT(*) FROM ledger l WHERE l.cid = o.cid) AS ledgerRows FROM objects o ORDER BY o.cid',
      )
      .all() as Snapshot['objects']
    const envelope = db.prepare('SELECT envelope FROM key_envelopes WHERE cid = ? AND recipient = ?')
    for (const object of objects) {
      const row = envelope.get(object.cid, identity.recipient) as {envelope: Buffer} | undefined
      try {
        if (!row) throw new Error('no envelope')
        for (const resource of await readObject(store, object, row.envelope, identity.ageIdentity)) {
          const key = `${resource.resourceType}/${resource.id ?? ''}`
          stored.set(key, (stored.get(key) ?? 0) + 1)
          content.set(key, createHash('sha256').update(JSON.stringify(resource)).digest('hex'))
        }
      } catch {
        undecryptable++
      }
    }
    const ledger = new Set(
      (db.prepare('SELECT key_hash, content_hash, subject, class FROM ledger').all() as Array<Record<string, string | null>>).map(
        (r) => `${r.key_hash}|${r.content_hash}|${r.subject}|${r.class}`,
      ),
    )
    const jobs = db.prepare("SELECT status FROM jobs WHERE kind = 'import' ORDER BY id").all() as Array<{status: string}>
    const audit = ok(await medctl<{entries: Array<{cids?: string[]}>}>(['audit', 'show', '--action', 'import'], home), 'audit show').result
    const audited = new Set(audit.entries.flatMap((e) => e.cids ?? []))
    const verify = await medctl<{ok: boolean}>(['audit', 'verify', '--offline'], home)
    const listed = ok(
      await medctl<{patients: Array<{subject: string; resources: number; classes: string[]}>}>(['records', 'list'], home),
      'records list',
    ).result
    return {
      stored,
      content,
      ledger,
      objects,
      undecryptable,
      runningJobs: jobs.filter((j) => j.status === 'running').length,
      lastJobStatus: jobs.at(-1)?.status,
      listing: new Map(listed.patients.map((p) => [p.subject, `${p.resources}:${p.classes.join(',')}`])),
      unaudited: missingFrom(
        objects.map((o) => o.cid),
        audited,
      ),
      auditOk: verify.code === 0 && verify.envelope?.result.ok === true,
    }
  } finally {
    db.close()
  }
}

function reportLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const r = JSON.parse(l) as {file: string; line?: number; code: string}
        return `${r.file}:${r.line ?? ''}:${r.code}`
      })
      .sort()
  } catch {
    return []
  }
}

/** Every check of one finished home against the input and the clean run. */
export function compare(t: Tally, got: Snapshot, clean: Snapshot, expected: Set<string>): void {
  t.addLost(missingFrom(expected, got.stored), 'input resources not stored in any object')
  t.addDuplicated(
    [...got.stored.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
    'resources stored in more than one object',
  )
  t.addWrong(missingFrom(got.stored.keys(), expected), 'stored resources that are not valid input lines')
  t.addWrong(
    [...got.content].filter(([key, hash]) => clean.content.get(key) !== undefined && clean.content.get(key) !== hash).length,
    'resources stored with other content than in the clean run',
  )
  t.addLost(missingFrom(clean.ledger, got.ledger), 'ledger rows of the clean run missing')
  t.addWrong(missingFrom(got.ledger, clean.ledger), 'ledger rows the clean run does not have')
  t.addWrong(got.objects.filter((o) => o.resources !== o.ledgerRows).length, 'objects whose resource count differs from their ledger rows')
  t.addLost(got.undecryptable, 'objects that do not decrypt (missing block or envelope)')
  t.addWrong(got.runningJobs, "import jobs left 'running'")
  t.expect(got.lastJobStatus === clean.lastJobStatus, `last import job is '${got.lastJobStatus}', the clean run's '${clean.lastJobStatus}'`)
  const listing = [...new Set([...got.listing.keys(), ...clean.listing.keys()])].filter((s) => got.listing.get(s) !== clean.listing.get(s))
  t.addWrong(listing.length, 'patients whose `records list` resources/classes differ from the clean run')
  t.addLost(got.unaudited, 'committed objects with no import audit entry')
  t.expect(got.auditOk, '`audit verify --offline` fails')
}

export async function recordsImportJob(ctx: JobContext, options: ImportJobOptions): Promise<JobReport> {
  const input = join(ctx.work, 'input')
  const generated = await generate({patients: options.patients, perPatient: options.perPatient, out: input, seed: 18})
  writeFileSync(join(input, 'Rejects.ndjson'), `${BAD_LINES.join('\n')}\n`)
  const expected = new Set<string>()
  for (const file of readdirSync(input).filter((f) => f !== 'Rejects.ndjson')) {
    for (const line of readFileSync(join(input, file), 'utf8').split('\n')) {
      if (!line) continue
      const r = JSON.parse(line) as {resourceType: string; id: string}
      expected.add(`${r.resourceType}/${r.id}`)
    }
  }
  const total = generated.resources + BAD_LINES.length
  // --buffer-mb 1: several flushes and commit batches mid-input, not one at the end.
  const args = (report: string) => ['records', 'import', input, '--no-anchor', '--buffer-mb', '1', '--report', report]

  const cleanHome = copyHome(ctx.template, join(ctx.work, 'clean'))
  const cleanRun = await medctl<ImportResult>(args(join(ctx.work, 'clean.rejects.ndjson')), cleanHome)
  const cleanResult = ok(cleanRun, 'clean records import', [3]).result
  const cleanReport = reportLines(join(ctx.work, 'clean.rejects.ndjson'))
  const clean = await snapshot(cleanHome)
  const baseline = new Tally()
  compare(baseline, clean, clean, expected)
  baseline.expect(
    cleanResult.read === total && cleanResult.imported === expected.size && cleanResult.rejected === BAD_LINES.length,
    `clean run counts ${JSON.stringify(cleanResult)}`,
  )
  if (!baseline.clean) throw new Error(`the clean import run itself fails the checks: ${baseline.problems.join('; ')}`)
  ctx.log(`records import: clean run ${(cleanRun.ms / 1000).toFixed(1)} s, ${total} lines, ${clean.objects.length} objects`)

  const trials: TrialReport[] = []
  for (let trial = 1; trial <= ctx.trials; trial++) {
    const home = copyHome(ctx.template, join(ctx.work, `trial-${trial}`))
    const delayMs = Math.round(ctx.random() * cleanRun.ms)
    const t = new Tally()
    const killed = await killAfter(args(join(home.home, 'killed.rejects.ndjson')), home, delayMs)
    const reportFile = join(home.home, 'rerun.rejects.ndjson')
    const rerun = await medctl<ImportResult>(args(reportFile), home)
    t.expect(
      rerun.code === cleanRun.code,
      `rerun exit ${rerun.code}, clean run exit ${cleanRun.code}: ${rerun.envelope?.error?.code ?? ''}`,
    )
    const result = rerun.envelope?.result
    if (!result || (rerun.envelope?.status ?? 'error') === 'error')
      t.addWrong(1, `rerun gave no result: ${rerun.stdout.slice(0, 300)} ${rerun.stderr.slice(0, 300)}`)
    else {
      t.expect(result.read === total, `rerun read ${result.read} of ${total} lines`)
      t.addLost(result.read - result.imported - result.duplicates - result.rejected, 'input lines neither imported, duplicate nor rejected')
      t.expect(result.rejected === cleanResult.rejected, `rerun rejected ${result.rejected}, clean ${cleanResult.rejected}`)
      const report = reportLines(reportFile)
      t.expect(
        JSON.stringify(report) === JSON.stringify(cleanReport),
        `reject report ${JSON.stringify(report)} differs from the clean run's ${JSON.stringify(cleanReport)}`,
      )
    }
    compare(t, await snapshot(home), clean, expected)
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
      `records import trial ${trial}: kill at ${delayMs} ms${killed.killed ? '' : ' (finished first)'} -> ${t.clean ? 'ok' : t.problems.join('; ')}`,
    )
    if (t.clean) rmSync(home.home, {recursive: true, force: true})
  }
  return summarise(
    'records import',
    `${total} NDJSON lines (${BAD_LINES.length} bad), ${options.patients} patients, ${clean.objects.length} objects`,
    cleanRun.ms,
    trials,
  )
}
