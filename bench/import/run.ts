/**
 * Import benchmark: `medctl records import` (the built CLI, `bin/run.js`, as a user runs it; no
 * anchoring) of the bundled Synthea samples as Bulk Data NDJSON at two sizes (10x and 40x the
 * samples by default, see samples.ts), against a bare JSON.parse of the same lines. Prints
 * resources/s, the ratio to JSON.parse and the command's peak RSS per size, so growth with the
 * input shows. Run `npm run build` first.
 *
 *   node --import tsx bench/import/run.ts [--copies 10,40] [--threads N] [--generated 1000] [--bin DIR/bin/run.js]
 *
 * --generated N adds a run over bench/import/generate.ts output for N patients; --bin runs another
 * build of medctl (for example an earlier commit, built in its own directory) on the same inputs.
 */
import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {generate} from './generate.js'
import {samplesNdjson} from './samples.js'

const {values} = parseArgs({
  options: {
    copies: {type: 'string', default: '10,40'},
    threads: {type: 'string'},
    generated: {type: 'string'},
    bin: {type: 'string'},
    keep: {type: 'boolean', default: false},
  },
})
// --bin: another build's bin/run.js (an older commit built elsewhere), to compare on the same inputs.
const BIN = values.bin ?? join(import.meta.dirname, '..', '..', 'bin', 'run.js')
const work = mkdtempSync(join(tmpdir(), 'medctl-bench-import-'))
const env = {
  ...process.env,
  MEDCTL_PASSPHRASE: 'bench-passphrase',
  MEDCTL_KDF_LOGN: '11',
  MEDCTL_NO_INPUT: '1',
  NO_COLOR: '1',
  ...(values.threads === undefined ? {} : {MEDCTL_IMPORT_THREADS: values.threads}),
}

function medctl(
  home: string,
  args: string[],
  maxRssFile?: string,
): {status: number | null; stdout: string; stderr: string; seconds: number} {
  const t = performance.now()
  const run = spawnSync(process.execPath, ['--import', join(import.meta.dirname, 'maxrss.mjs'), BIN, ...args], {
    env: {...env, MEDCTL_HOME: home, ...(maxRssFile ? {BENCH_MAXRSS_FILE: maxRssFile} : {})},
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return {status: run.status, stdout: run.stdout, stderr: run.stderr, seconds: (performance.now() - t) / 1000}
}

/** Reading the files and JSON.parse of every line: the floor an import is compared with. */
function parseSeconds(files: string[]): {seconds: number; lines: number} {
  const t = performance.now()
  let lines = 0
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue
      JSON.parse(line)
      lines++
    }
  }
  return {seconds: (performance.now() - t) / 1000, lines}
}

interface Row {
  label: string
  resources: number
  mb: number
  seconds: number
  parse: number
  rssMiB: number
  result: {read: number; imported: number; duplicates: number; rejected: number; objects: number}
}

try {
  const template = join(work, 'home-template')
  const init = medctl(template, ['init', '--json'])
  if (init.status !== 0) throw new Error(`medctl init failed: ${init.stderr || init.stdout}`)
  // init leaves its node running for the profile; this benchmark never anchors, so it is not needed.
  medctl(template, ['node', 'stop', '--json'])

  const inputs: Array<{label: string; dir: string}> = []
  for (const copies of values.copies.split(',').filter(Boolean).map(Number)) {
    const dir = join(work, `samples-${copies}x`)
    await samplesNdjson({copies, out: dir})
    inputs.push({label: `samples x${copies}`, dir})
  }
  if (values.generated) {
    const dir = join(work, 'generated')
    await generate({patients: Number(values.generated), perPatient: 60, out: dir, seed: 1})
    inputs.push({label: `generated ${values.generated} patients`, dir})
  }

  const rows: Row[] = []
  for (const {label, dir} of inputs) {
    const files = readdirSync(dir).map((f) => join(dir, f))
    const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0)
    const parse = parseSeconds(files)
    const home = join(work, `home-${rows.length}`)
    cpSync(template, home, {recursive: true})
    const rssFile = join(work, `maxrss-${rows.length}`)
    const run = medctl(home, ['records', 'import', dir, '--no-anchor', '--json'], rssFile)
    if (run.status !== 0 && run.status !== 3) throw new Error(`records import exited ${run.status}: ${run.stderr.slice(0, 2000)}`)
    const result = (JSON.parse(run.stdout) as {result: Row['result']}).result
    if (result.imported + result.duplicates + result.rejected !== result.read)
      throw new Error(`lines not accounted for: ${JSON.stringify(result)}`)
    rows.push({
      label,
      resources: parse.lines,
      mb: bytes / 1e6,
      seconds: run.seconds,
      parse: parse.seconds,
      rssMiB: Number(readFileSync(rssFile, 'utf8')) / 1024,
      result,
    })
    rmSync(home, {recursive: true, force: true})
  }

  console.log(
    `${BIN}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )}; ${values.threads === undefined ? 'default' : values.threads} validation threads; wall time of the whole command (start-up included)`,
  )
  console.log(
    [
      'input'.padEnd(26),
      'resources',
      '   MB',
      'import s',
      ' res/s',
      'parse s',
      'import/parse',
      'peak RSS MiB',
      'imported/dup/rejected/objects',
    ].join('  '),
  )
  for (const r of rows) {
    console.log(
      [
        r.label.padEnd(26),
        String(r.resources).padStart(9),
        r.mb.toFixed(1).padStart(5),
        r.seconds.toFixed(2).padStart(8),
        (r.resources / r.seconds).toFixed(0).padStart(6),
        r.parse.toFixed(2).padStart(7),
        `${(r.seconds / r.parse).toFixed(1)}x`.padStart(12),
        r.rssMiB.toFixed(0).padStart(12),
        `${r.result.imported}/${r.result.duplicates}/${r.result.rejected}/${r.result.objects}`,
      ].join('  '),
    )
  }
} finally {
  if (values.keep) console.error(`kept ${work}`)
  else rmSync(work, {recursive: true, force: true})
}
