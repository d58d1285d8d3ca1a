/** What every layer may use: errors and exit codes, progress events, atomic file writes. */
export * from './errors.js'
export * from './progress.js'
export * from './atomic.js'
