import {describe, expect, it} from 'vitest'
import {formatReport, runFaults} from '../bench/faults/core.js'

// The fault script (bench/faults) with 2 kill -9 trials per job and smaller inputs, so CI runs it:
// a killed records import, records upload and consent import each re-run to the clean run's state.
describe('fault injection: kill -9 at random points of import, upload and consent import', () => {
  it('loses nothing, duplicates nothing and leaves no wrong state (2 trials per job)', async () => {
    const report = await runFaults({
      trials: 2,
      seed: Number(process.env.MEDCTL_FAULTS_SEED ?? 7),
      import: {patients: 24, perPatient: 20},
      upload: {patients: 10, perPatient: 10},
      consent: {patients: 12, batch: 4},
      log: (line) => console.error(line),
    })
    console.log(formatReport(report))
    expect(report.jobs.map((j) => j.job)).toEqual(['records import', 'records upload', 'consent import'])
    for (const job of report.jobs) {
      expect(job.trials).toBe(2)
      expect({job: job.job, lost: job.lost, duplicated: job.duplicated, wrongState: job.wrongState, failures: job.failures}).toEqual({
        job: job.job,
        lost: 0,
        duplicated: 0,
        wrongState: 0,
        failures: [],
      })
    }
    expect(report.ok).toBe(true)
  }, 300_000)
})
