/**
 * Large-file benchmark (issue 15.4): `records attach` of a 1 GiB file, `records share --out` of it
 * as a CAR file, and `records fetch` of that CAR by a grantee, each run as its own process
 * (`bin/run.js`, so `npm run build` first) under `/usr/bin/time`, which reports the kernel's peak
 * resident set size of the process (ru_maxrss). Prints MB/s (10^6 bytes of file per second of
 * wall time, start-up and key derivation included) and peak RSS per step; exits 1 when a step
 * goes over the memory target or the fetched file differs from the input.
 *
 *   node --import tsx bench/attach/run.ts [--mib 1024] [--target-mib 256] [--keep]
 */
import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

const {values} = parseArgs({
  options: {
    mib: {type: 'string', default: '1024'},
    'target-mib': {type: 'string', default: '256'},
    keep: {type: 'boolean', default: false},
  },
})
const mib = Number(values.mib)
const targetMib = Number(values['target-mib'])
const root = fileURLToPath(new URL('../..', import.meta.url))
const bin = join(root, 'bin', 'run.js')
const work = mkdtempSync(join(tmpdir(), 'medctl-bench-attach-'))
const env = {
  ...process.env,
  MEDCTL_HOME: join(work, 'home'),
  MEDCTL_PASSPHRASE: 'attach-bench',
  MEDCTL_KDF_LOGN: '11',
  MEDCTL_NO_INPUT: '1',
  NO_COLOR: '1',
}
const PATIENT = 'http://hospital.example/mrn|MRN-0001'

interface Step {
  name: string
  seconds: number
  peakRssMib: number
  stdout: string
}

/** One medctl command as its own process, timed by /usr/bin/time (elapsed wall time, max RSS). */
function medctl(name: string, args: string[], ok: number[] = [0]): Step {
  const timing = join(work, 'time.txt')
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', '-o', timing, process.execPath, bin, ...args], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (!ok.includes(r.status ?? -1)) throw new Error(`${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  const [seconds, kib] = readFileSync(timing, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number)
  return {name, seconds: seconds as number, peakRssMib: (kib as number) / 1024, stdout: r.stdout}
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024})) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

let failed = false
try {
  // The input: random bytes (incompressible, like an MRI series zip), written 1 MiB at a time.
  const input = join(work, 'series.zip')
  const fd = openSync(input, 'w')
  for (let i = 0; i < mib; i++) writeSync(fd, randomBytes(1024 * 1024))
  closeSync(fd)
  const bytes = statSync(input).size
  const expected = await sha256Of(input)

  medctl('init', ['init', '--json'])
  medctl('import', ['records', 'import', join(root, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor', '--json'])
  medctl('profile', ['profile', 'create', 'clinic', '--json'])
  medctl('grant', [
    'consent',
    'grant',
    '--patient',
    PATIENT,
    '--grantee',
    'clinic',
    '--purpose',
    'TREAT',
    '--classes',
    'imaging',
    '--until',
    '30d',
    '--json',
  ])

  const car = join(work, 'pkg.car')
  const out = join(work, 'fetched')
  mkdirSync(out)
  const steps = [
    medctl('records attach', ['records', 'attach', input, '--patient', PATIENT, '--class', 'imaging', '--no-anchor', '--json']),
    medctl('records attach (again: hash only)', [
      'records',
      'attach',
      input,
      '--patient',
      PATIENT,
      '--class',
      'imaging',
      '--no-anchor',
      '--json',
    ]),
    medctl('records share --out CAR', [
      'records',
      'share',
      '--patient',
      PATIENT,
      '--to',
      'clinic',
      '--purpose',
      'TREAT',
      '--out',
      car,
      '--json',
    ]),
    medctl('records fetch CAR (grantee)', [
      'records',
      'fetch',
      car,
      '--out',
      join(out, 'bundle.json'),
      '--attachments',
      out,
      '--profile',
      'clinic',
      '--json',
    ]),
  ]
  const created = (JSON.parse(steps[0]!.stdout) as {result: {created: boolean}}).result.created
  const again = (JSON.parse(steps[1]!.stdout) as {result: {created: boolean}}).result.created
  const fetched = (JSON.parse(steps[3]!.stdout) as {result: {attachments: Array<{file: string}>}}).result.attachments
  const same = fetched.length === 1 && (await sha256Of(fetched[0]!.file)) === expected

  console.log(
    `file: ${mib} MiB (${bytes.toLocaleString('en-US')} bytes), CAR ${(statSync(car).size / 1024 / 1024).toFixed(0)} MiB; node ${process.version}`,
  )
  console.log('step                                   seconds     MB/s   peak RSS MiB')
  for (const s of steps)
    console.log(
      `${s.name.padEnd(36)} ${s.seconds.toFixed(1).padStart(9)} ${(bytes / 1e6 / s.seconds).toFixed(1).padStart(8)} ${s.peakRssMib.toFixed(0).padStart(14)}`,
    )
  console.log(`first attach stored it: ${created}; second attach stored nothing: ${!again}; fetched file SHA-256 equals the input: ${same}`)
  const over = steps.filter((s) => s.peakRssMib > targetMib)
  if (over.length > 0) console.log(`OVER the ${targetMib} MiB target: ${over.map((s) => s.name).join(', ')}`)
  failed = over.length > 0 || !same || !created || again
} finally {
  spawnSync(process.execPath, [bin, 'node', 'stop', '--json'], {env})
  if (values.keep) console.log(`kept ${work}`)
  else rmSync(work, {recursive: true, force: true})
}
process.exit(failed ? 1 : 0)
