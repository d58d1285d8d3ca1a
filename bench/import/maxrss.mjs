// Preloaded into the benchmarked command (node --import): on exit, writes the process's peak RSS
// (ru_maxrss, KiB, every thread included) to the file named by BENCH_MAXRSS_FILE.
import {writeFileSync} from 'node:fs'

process.on('exit', () => {
  if (process.env.BENCH_MAXRSS_FILE) writeFileSync(process.env.BENCH_MAXRSS_FILE, String(process.resourceUsage().maxRSS))
})
