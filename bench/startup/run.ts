/**
 * Start-up cost: medians of several runs of `medctl --version`, `--help` and `consent check` (a real
 * view call against the embedded chain), against a bare `node -e 0`, in the same run. `consent
 * check` is measured twice: with the passphrase (keys derived by scrypt on every call, at the cost
 * --kdf-logn, default 14; production is 17) and under an unlocked session (`medctl unlock`: keys
 * from the agent, no derivation).
 *   node --import tsx bench/startup/run.ts [--runs 7] [--kdf-logn 17]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {fileURLToPath} from 'node:url'

const {values} = parseArgs({options: {runs: {type: 'string', default: '7'}, 'kdf-logn': {type: 'string', default: '14'}}})
const runs = Number(values.runs)
const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'bin', 'run.js')
const home = mkdtempSync(join(tmpdir(), 'medctl-startup-'))
const env = {
  ...process.env,
  MEDCTL_HOME: home,
  MEDCTL_PASSPHRASE: 'startup-bench',
  MEDCTL_KDF_LOGN: values['kdf-logn'],
  MEDCTL_NO_INPUT: '1',
}
const PATIENT = 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'

function median(args: string[], command = process.execPath): number {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    const r = spawnSync(command, args, {env, encoding: 'utf8'})
    times.push(performance.now() - start)
    if (r.status !== 0 && r.status !== 5) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number
}

try {
  for (const args of [['init'], ['records', 'import', join(root, 'data', 'samples'), '--no-anchor'], ['profile', 'create', 'clinic']]) {
    const r = spawnSync(process.execPath, [bin, ...args], {env, encoding: 'utf8'})
    if (r.status !== 0 && r.status !== 3) throw new Error(`${args.join(' ')}: ${r.stderr}`)
  }
  const check = [bin, 'consent', 'check', '--patient', PATIENT, '--grantee', 'clinic', '--purpose', 'TREAT']
  const bare = median(['-e', '0'])
  const rows: Array<[string, number]> = [
    ['node -e 0', bare],
    ['medctl --version', median([bin, '--version'])],
    ['medctl --help', median([bin, '--help'])],
    [`medctl consent check, passphrase (scrypt 2^${values['kdf-logn']})`, median(check)],
  ]
  const unlock = spawnSync(process.execPath, [bin, 'unlock', '--for', '30m'], {env, encoding: 'utf8'})
  if (unlock.status !== 0) throw new Error(`unlock: ${unlock.stderr}`)
  rows.push(['medctl consent check, unlocked session', median(check)])
  console.log(`${'command'.padEnd(48)}${'median ms'.padStart(10)}${'× node -e 0'.padStart(14)}`)
  for (const [name, ms] of rows) console.log(`${name.padEnd(48)}${ms.toFixed(0).padStart(10)}${(ms / bare).toFixed(1).padStart(14)}`)
} finally {
  spawnSync(process.execPath, [bin, 'lock'], {env})
  spawnSync(process.execPath, [bin, 'node', 'stop'], {env})
  rmSync(home, {recursive: true, force: true})
}
