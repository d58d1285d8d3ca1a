import {execFileSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

// Subprocess tests run bin/run.js, which loads dist/: build once so it is current.
// MEDCTL_SKIP_BUILD=1 skips it for quick focused runs of library tests.
export default function setup(): void {
  if (process.env.MEDCTL_SKIP_BUILD === '1') return
  const root = fileURLToPath(new URL('..', import.meta.url))
  execFileSync('npm', ['run', '--silent', 'build'], {cwd: root, stdio: 'inherit'})
}
