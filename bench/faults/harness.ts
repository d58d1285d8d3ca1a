/**
 * The fault harness: runs medctl (bin/run.js, so dist/ must be built) in its own process, kills it
 * with SIGKILL after a delay, runs it again to completion, and tallies what the checks find.
 */
import {spawn} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, rmSync, symlinkSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
/** The medctl install the jobs run: the repository's, or a private snapshot of it (see snapshotInstall). */
let installRoot = repoRoot

/**
 * Copies the built CLI (bin/, dist/, data/, package.json; node_modules linked) into `dir` and runs
 * every later command from there, so a long run is not broken by someone rebuilding dist/ meanwhile.
 */
export function snapshotInstall(dir: string): string {
  if (!existsSync(join(repoRoot, 'dist', 'commands'))) throw new Error('dist/ is not built: run `npm run build` first')
  mkdirSync(dir, {recursive: true})
  for (const entry of ['bin', 'dist', 'data', 'package.json']) cpSync(join(repoRoot, entry), join(dir, entry), {recursive: true})
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir')
  installRoot = dir
  return dir
}
export const PASSPHRASE = 'faults-passphrase-not-secret'

export interface Envelope<R> {
  status: 'ok' | 'partial' | 'failed' | 'denied' | 'error'
  result: R
  warnings: string[]
  error?: {code: string; message: string; exitCode: number}
}

export interface Home {
  home: string
  env: NodeJS.ProcessEnv
}

/** The environment test/helpers/cli.ts gives a home: low KDF cost, no prompts, no colour. */
export function homeAt(home: string): Home {
  return {home, env: {MEDCTL_HOME: home, MEDCTL_PASSPHRASE: PASSPHRASE, MEDCTL_KDF_LOGN: '11', MEDCTL_NO_INPUT: '1', NO_COLOR: '1'}}
}

/**
 * The parent's environment without any MEDCTL_* setting, so only the home's own apply, and without
 * NODE_ENV (vitest's NODE_ENV=test makes oclif load tsx in every process, as no user's shell does).
 */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('MEDCTL_') && key !== 'NODE_ENV'))
  return {...base, ...env}
}

export interface Run<R> {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
  envelope?: Envelope<R>
}

/** Children still running: killed if this process exits first (a timed-out test, an exception). */
const live = new Set<ReturnType<typeof spawn>>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [join(installRoot, 'bin', 'run.js'), ...args], {
    cwd: installRoot,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  child.once('close', () => live.delete(child))
  return child
}

/** Runs a command to completion (with --json) and parses its envelope. */
export async function medctl<R = Record<string, unknown>>(args: string[], home: Home, timeoutMs = 600_000): Promise<Run<R>> {
  return runAndMaybeKill<R>([...args, '--json'], home, undefined, timeoutMs)
}

/** Runs a command and kills it with SIGKILL after `delayMs` (unless it has exited by then). */
export async function killAfter(args: string[], home: Home, delayMs: number): Promise<Run<unknown> & {killed: boolean}> {
  const run = await runAndMaybeKill<unknown>([...args, '--json'], home, delayMs, 600_000)
  return {...run, killed: run.signal === 'SIGKILL'}
}

async function runAndMaybeKill<R>(args: string[], home: Home, killAfterMs: number | undefined, timeoutMs: number): Promise<Run<R>> {
  const started = performance.now()
  const child = start(args, home.env)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timers: NodeJS.Timeout[] = []
  if (killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), killAfterMs))
  timers.push(setTimeout(() => child.kill('SIGKILL'), timeoutMs))
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (c, s) => resolve([c, s]))
  })
  for (const timer of timers) clearTimeout(timer)
  const ms = performance.now() - started
  let envelope: Envelope<R> | undefined
  try {
    envelope = JSON.parse(stdout) as Envelope<R>
  } catch {
    envelope = undefined
  }
  return {code, signal, stdout, stderr, ms, ...(envelope ? {envelope} : {})}
}

/** Asserts a run ended ok (exit 0, or one of `allowed`) with an envelope, else throws with its output. */
export function ok<R>(run: Run<R>, what: string, allowed: number[] = [0]): Envelope<R> {
  if (run.code === null || !allowed.includes(run.code) || !run.envelope) {
    throw new Error(`${what} failed (exit ${run.code ?? run.signal}):\n${run.stdout.slice(0, 2000)}\n${run.stderr.slice(0, 2000)}`)
  }
  return run.envelope
}

/** A fresh copy of an initialised home (its keys, profile and empty index), without its node's runtime files. */
export function copyHome(template: string, to: string): Home {
  rmSync(to, {recursive: true, force: true})
  mkdirSync(to, {recursive: true})
  cpSync(template, to, {recursive: true, filter: (source) => !source.startsWith(join(template, 'data', 'node'))})
  return homeAt(to)
}

/** A small seeded PRNG (xorshift32): the same --seed draws the same kill delays. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 4294967296
  }
}

/** What one trial found. Counts are of items (resources, objects, consents, entries), not of trials. */
export class Tally {
  lost = 0
  duplicated = 0
  wrongState = 0
  readonly problems: string[] = []

  private note(message: string): void {
    if (this.problems.length < 12) this.problems.push(message)
  }

  addLost(count: number, message: string): void {
    if (count <= 0) return
    this.lost += count
    this.note(`lost ${count}: ${message}`)
  }

  addDuplicated(count: number, message: string): void {
    if (count <= 0) return
    this.duplicated += count
    this.note(`duplicated ${count}: ${message}`)
  }

  addWrong(count: number, message: string): void {
    if (count <= 0) return
    this.wrongState += count
    this.note(`wrong state ${count}: ${message}`)
  }

  /** Wrong state when `condition` is false. */
  expect(condition: boolean, message: string): void {
    if (!condition) this.addWrong(1, message)
  }

  get clean(): boolean {
    return this.lost === 0 && this.duplicated === 0 && this.wrongState === 0
  }
}

export interface TrialReport {
  trial: number
  delayMs: number
  /** Whether the SIGKILL landed (false: the job had finished before the delay ran out). */
  killed: boolean
  lost: number
  duplicated: number
  wrongState: number
  problems: string[]
}

export interface JobReport {
  job: string
  trials: number
  /** Trials whose SIGKILL landed while the job ran. */
  killed: number
  lost: number
  duplicated: number
  wrongState: number
  /** Duration of the clean (uninterrupted) run, the upper bound of the kill delays. */
  cleanMs: number
  /** What the job's input is (for the printed table). */
  input: string
  failures: TrialReport[]
  /** Informational counters (not failures), e.g. idempotent re-requests after a kill. */
  notes: Record<string, number>
}

export interface JobContext {
  /** A scratch directory of this job. */
  work: string
  /** An initialised home (init done, node stopped) to copy. */
  template: string
  trials: number
  random: () => number
  log: (line: string) => void
}

/** Counts of each value (for duplicate detection). */
export function countBy<T>(items: Iterable<T>): Map<T, number> {
  const counts = new Map<T, number>()
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1)
  return counts
}

/** How many elements of `a` are not in `b`. */
export function missingFrom<T>(a: Iterable<T>, b: {has(item: T): boolean}): number {
  let n = 0
  for (const item of a) if (!b.has(item)) n++
  return n
}

export function summarise(
  job: string,
  input: string,
  cleanMs: number,
  trials: TrialReport[],
  notes: Record<string, number> = {},
): JobReport {
  return {
    job,
    input,
    trials: trials.length,
    killed: trials.filter((t) => t.killed).length,
    lost: trials.reduce((n, t) => n + t.lost, 0),
    duplicated: trials.reduce((n, t) => n + t.duplicated, 0),
    wrongState: trials.reduce((n, t) => n + t.wrongState, 0),
    cleanMs,
    failures: trials.filter((t) => t.lost + t.duplicated + t.wrongState > 0),
    notes,
  }
}
