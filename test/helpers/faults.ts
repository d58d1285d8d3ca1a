import {expect} from 'vitest'
import {formatReport, runFaults, type JobName} from '../../bench/faults/core.js'

const NAMES: Record<JobName, string> = {import: 'records import', upload: 'records upload', consent: 'consent import'}

/**
 * The fault script (bench/faults) for one job, with 2 kill -9 trials and smaller inputs, so CI runs
 * it: the killed job re-run to completion must reach the clean run's state. One job per test file,
 * so the three run side by side.
 */
export async function expectJobSurvivesKills(job: JobName): Promise<void> {
  const report = await runFaults({
    trials: 2,
    jobs: [job],
    seed: Number(process.env.MEDCTL_FAULTS_SEED ?? 7),
    import: {patients: 24, perPatient: 20},
    upload: {patients: 10, perPatient: 10},
    consent: {patients: 12, batch: 4},
    log: (line) => console.error(line),
  })
  console.log(formatReport(report))
  expect(report.jobs.map((j) => j.job)).toEqual([NAMES[job]])
  for (const result of report.jobs) {
    expect(result.trials).toBe(2)
    expect({
      job: result.job,
      lost: result.lost,
      duplicated: result.duplicated,
      wrongState: result.wrongState,
      failures: result.failures,
    }).toEqual({
      job: result.job,
      lost: 0,
      duplicated: 0,
      wrongState: 0,
      failures: [],
    })
  }
  expect(report.ok).toBe(true)
}
