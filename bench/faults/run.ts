/**
 * Fault injection: kill -9 at random points of `records import`, `records upload` and
 * `consent import`, re-run each to completion and compare with a clean run. Prints per job the
 * trials, the kills that landed, and the lost / duplicated / wrong-state counts (all must be 0);
 * exits 1 when any is not. Needs a built dist/ (`npm run build`).
 *
 *   node --import tsx bench/faults/run.ts [--trials 20] [--jobs import,upload,consent] [--seed 18] [--json] [--quiet]
 */
import {parseArgs} from 'node:util'
import {JOBS, formatReport, runFaults, type JobName} from './core.js'

const {values} = parseArgs({
  options: {
    trials: {type: 'string', default: '20'},
    jobs: {type: 'string', default: JOBS.join(',')},
    seed: {type: 'string', default: '18'},
    json: {type: 'boolean', default: false},
    quiet: {type: 'boolean', default: false},
    keep: {type: 'boolean', default: false},
  },
})
const trials = Number(values.trials)
const jobs = String(values.jobs)
  .split(',')
  .map((j) => j.trim()) as JobName[]
if (!Number.isInteger(trials) || trials < 1 || jobs.some((j) => !JOBS.includes(j))) {
  console.error(`usage: run.ts [--trials N>=1] [--jobs ${JOBS.join(',')}] [--seed N] [--json] [--quiet] [--keep]`)
  process.exit(2)
}
const started = performance.now()
const report = await runFaults({
  trials,
  jobs,
  seed: Number(values.seed),
  keep: values.keep,
  log: values.quiet ? undefined : (line) => console.error(line),
})
if (values.json) console.log(JSON.stringify(report, null, 2))
else console.log(`${formatReport(report)}\n(${((performance.now() - started) / 1000 / 60).toFixed(1)} min)`)
process.exitCode = report.ok ? 0 : 1
