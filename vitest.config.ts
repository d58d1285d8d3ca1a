import {defineConfig} from 'vitest/config'
import {BaseSequencer, type TestSpecification} from 'vitest/node'

/**
 * The longest files first (measured, longest first). A fresh clone has no timings cache, and vitest
 * then orders files by size: these small files would start last and leave a minute-long tail on
 * one worker while the others idle.
 */
const LONGEST_FIRST = [
  'test/readme.test.ts',
  'test/faults/records-import.test.ts',
  'test/faults/consent-import.test.ts',
  'test/faults/records-upload.test.ts',
  'test/session/unlock.test.ts',
  'test/demo.test.ts',
  'test/records/export-patient.test.ts',
  'test/records/resume.test.ts',
  'test/four-homes.test.ts',
  'test/records/import-threads.test.ts',
  'test/audit/trust.test.ts',
  'test/fhir/validate-fast.test.ts',
  'test/consent/import.test.ts',
  'test/records/import-audit.test.ts',
]

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files)
    const rank = (file: TestSpecification): number => {
      const at = LONGEST_FIRST.findIndex((path) => file.moduleId.replaceAll('\\', '/').endsWith(path))
      return at < 0 ? LONGEST_FIRST.length : at
    }
    return sorted
      .map((file, index) => ({file, index, rank: rank(file)}))
      .sort((a, b) => a.rank - b.rank || a.index - b.index)
      .map(({file}) => file)
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Three on two cores: the suite waits on chains, disks and subprocesses about a quarter of the time.
    maxWorkers: 3,
    sequence: {sequencer: LongestFirst},
    globalSetup: ['test/global-setup.ts'],
  },
})
