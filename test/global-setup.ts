import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

// Subprocess tests run bin/run.js, which loads dist/: build once so it is current.
// MEDCTL_SKIP_BUILD=1 skips it for quick focused runs of library tests.
export default function setup(): void {
  if (process.env.MEDCTL_SKIP_BUILD === '1') return
  const root = fileURLToPath(new URL('..', import.meta.url))
  // Without vitest's NODE_ENV=test: under it `oclif manifest` records src/commands/*.ts (loaded
  // through tsx), so bin/run.js would run the TypeScript sources instead of dist/, and the session
  // agent, started as `node --import tsx` from /, would not start at all.
  const {NODE_ENV: _testMode, ...env} = process.env
  execFileSync('npm', ['run', '--silent', 'build'], {cwd: root, stdio: 'inherit', env})
}
