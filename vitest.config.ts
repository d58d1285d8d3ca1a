import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Three on two cores: the suite waits on chains, disks and subprocesses about a quarter of the time.
    maxWorkers: 3,
    globalSetup: ['test/global-setup.ts'],
  },
})
