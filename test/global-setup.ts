import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

// Subprocess tests run bin/run.js, which loads dist/: make sure it is current.
export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  if (process.env.MEDCTL_SKIP_BUILD && existsSync(`${root}/dist`)) return
  execFileSync('npm', ['run', '--silent', 'build'], {cwd: root, stdio: 'inherit'})
}
