/**
 * The fault script's core: three bulk jobs, each killed with SIGKILL at random points and run again
 * to completion, checked against a clean run. Used by bench/faults/run.ts and test/faults/*.test.ts (one job per file).
 */
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {consentImportJob, type ConsentJobOptions} from './consent-import.js'
import {homeAt, medctl, ok, seededRandom, snapshotInstall, type JobContext, type JobReport} from './harness.js'
import {recordsImportJob, type ImportJobOptions} from './records-import.js'
import {recordsUploadJob, type UploadJobOptions} from './records-upload.js'

export const JOBS = ['import', 'upload', 'consent'] as const
export type JobName = (typeof JOBS)[number]

export interface FaultOptions {
  trials: number
  jobs?: readonly JobName[]
  seed?: number
  import?: ImportJobOptions
  upload?: UploadJobOptions
  consent?: ConsentJobOptions
  /** Keep the scratch directory (homes of failing trials are always kept until then). */
  keep?: boolean
  log?: (line: string) => void
}

export interface FaultReport {
  jobs: JobReport[]
  total: {trials: number; killed: number; lost: number; duplicated: number; wrongState: number}
  ok: boolean
  work: string
}

export const DEFAULTS = {
  import: {patients: 60, perPatient: 30},
  upload: {patients: 60, perPatient: 30},
  consent: {patients: 48, batch: 8},
} as const

export async function runFaults(options: FaultOptions): Promise<FaultReport> {
  const log = options.log ?? (() => undefined)
  const work = mkdtempSync(join(tmpdir(), 'medctl-faults-'))
  const random = seededRandom(options.seed ?? 18)
  const jobs: JobReport[] = []
  try {
    snapshotInstall(join(work, 'medctl'))
    // One initialised home, copied for every import trial: `init` once, its node stopped.
    const template = homeAt(join(work, 'template'))
    ok(await medctl(['init'], template), 'init (template home)')
    ok(await medctl(['node', 'stop'], template), 'node stop (template home)')
    const context = (name: string): JobContext => {
      const dir = join(work, name)
      mkdirSync(dir, {recursive: true})
      return {work: dir, template: template.home, trials: options.trials, random, log}
    }
    for (const job of options.jobs ?? JOBS) {
      if (job === 'import') jobs.push(await recordsImportJob(context('import'), options.import ?? DEFAULTS.import))
      if (job === 'upload') jobs.push(await recordsUploadJob(context('upload'), options.upload ?? DEFAULTS.upload))
      if (job === 'consent') jobs.push(await consentImportJob(context('consent'), options.consent ?? DEFAULTS.consent))
    }
  } finally {
    const failed = jobs.some((j) => j.failures.length > 0)
    if (!options.keep && !failed) rmSync(work, {recursive: true, force: true})
  }
  const total = {
    trials: jobs.reduce((n, j) => n + j.trials, 0),
    killed: jobs.reduce((n, j) => n + j.killed, 0),
    lost: jobs.reduce((n, j) => n + j.lost, 0),
    duplicated: jobs.reduce((n, j) => n + j.duplicated, 0),
    wrongState: jobs.reduce((n, j) => n + j.wrongState, 0),
  }
  return {jobs, total, ok: total.lost + total.duplicated + total.wrongState === 0, work}
}

/** The table the script prints. */
export function formatReport(report: FaultReport): string {
  const rows = [
    ['job', 'trials', 'killed', 'lost', 'duplicated', 'wrong-state', 'clean run'],
    ...report.jobs.map((j) => [j.job, j.trials, j.killed, j.lost, j.duplicated, j.wrongState, `${(j.cleanMs / 1000).toFixed(1)} s`]),
    ['total', report.total.trials, report.total.killed, report.total.lost, report.total.duplicated, report.total.wrongState, ''],
  ].map((row) => row.map(String))
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  lines.splice(lines.length - 1, 0, widths.map((w) => '-'.repeat(w)).join('  '))
  const out = [...lines, '']
  for (const j of report.jobs) {
    out.push(
      `${j.job}: ${j.input}${Object.entries(j.notes)
        .map(([k, v]) => `; ${k}: ${v}`)
        .join('')}`,
    )
    for (const f of j.failures)
      out.push(`  FAILED trial ${f.trial} (kill at ${f.delayMs} ms${f.killed ? '' : ', finished first'}): ${f.problems.join('; ')}`)
  }
  if (!report.ok) out.push(`homes of failing trials kept under ${report.work}`)
  out.push(report.ok ? 'OK: nothing lost, nothing duplicated, no wrong state.' : 'FAIL: see the trials above.')
  return out.join('\n')
}
