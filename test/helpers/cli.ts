import {spawn, spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {runCommand} from '@oclif/test'
import {expect, inject} from 'vitest'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const binRun = join(repoRoot, 'bin', 'run.js')
export const TEST_PASSPHRASE = 'test-passphrase-not-secret'

/** The envelope every command prints under --json. */
export interface Envelope<R = Record<string, unknown>> {
  /** Mirrors the exit code: ok 0, partial 3, failed 4, denied 5; error for an error envelope. */
  status: 'ok' | 'partial' | 'failed' | 'denied' | 'error'
  exitCode?: number
  result: R
  warnings: string[]
  error: {code: string; message: string; exitCode: number; suggestions: string[]; details?: Record<string, unknown>}
}

export interface TestHome {
  home: string
  env: NodeJS.ProcessEnv
  /** Stops the home's embedded node (if any) and deletes the home. */
  cleanup(): Promise<void>
}

/**
 * A temporary MEDCTL_HOME, set in process.env for in-process runCommand calls; low KDF cost so the
 * suite stays fast (production uses scrypt 2^17).
 */
export function useTempHome(extra: NodeJS.ProcessEnv = {}): TestHome {
  const home = mkdtempSync(join(tmpdir(), 'medctl-test-'))
  const env: NodeJS.ProcessEnv = {
    MEDCTL_HOME: home,
    MEDCTL_PASSPHRASE: TEST_PASSPHRASE,
    MEDCTL_KDF_LOGN: '11',
    MEDCTL_NO_INPUT: '1',
    NO_COLOR: '1',
    ...extra,
  }
  Object.assign(process.env, env)
  return {
    home,
    env,
    async cleanup() {
      await killHomeNode(home)
      rmSync(home, {recursive: true, force: true})
    },
  }
}

/**
 * Makes t's home what `medctl init` makes it (the local custodian profile and identity, a funded
 * wallet, the ConsentRegistry deployed) with its node running, as a test file's set-up. It copies
 * the home global-setup initialised once for the run (same keys and registry address in every
 * copy, each with its own chain restored from the dump) instead of running init again; without
 * one it runs init. Files that test init itself run it.
 */
export async function initHome(t: TestHome): Promise<void> {
  const template = inject('medctlTemplateHome')
  if (!template) {
    const init = await runJson(['init'])
    expect(init.exitCode, JSON.stringify(init.envelope)).toBe(0)
    return
  }
  const runtime = new Set(['node.json', 'anvil.log'].map((file) => join(template, 'data', 'node', file)))
  cpSync(template, t.home, {recursive: true, filter: (source) => !runtime.has(source)})
  process.env.MEDCTL_HOME = t.home
  const started = await runJson<{restoredState: boolean}>(['node', 'start'])
  expect(started.exitCode, JSON.stringify(started.envelope)).toBe(0)
  expect(started.envelope.result.restoredState).toBe(true)
}

/** Whether pid is a running anvil (not gone, not a zombie waiting to be reaped). */
function anvilRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('anvil')
  } catch {
    return false
  }
}

/**
 * Ends the embedded node of a home that is about to be deleted: SIGKILL, nothing persisted (the
 * state dies with the home). `medctl node stop` in a subprocess is not used: it costs a Node
 * start-up, dumps the state first, and when this worker started the node in-process (runJson) it
 * waits its full 15 s deadline on the zombie this worker cannot reap while spawnSync blocks it.
 */
export async function killHomeNode(home: string): Promise<void> {
  let pid: number
  try {
    pid = (JSON.parse(readFileSync(join(home, 'data', 'node', 'node.json'), 'utf8')) as {pid: number}).pid
  } catch {
    return
  }
  if (!anvilRunning(pid)) return
  process.kill(pid, 'SIGKILL')
  const deadline = Date.now() + 10_000
  while (anvilRunning(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
}

/** Runs a command in-process through @oclif/test and parses its --json envelope. */
export async function runJson<R = Record<string, unknown>>(
  args: string[],
): Promise<{envelope: Envelope<R>; exitCode: number; stderr: string}> {
  const {stdout, stderr, error} = await runCommand([...args, '--json'], {root: repoRoot})
  const exitCode = (error as {oclif?: {exit?: number}} | undefined)?.oclif?.exit ?? (error ? 1 : 0)
  let envelope: Envelope<R>
  try {
    envelope = JSON.parse(stdout) as Envelope<R>
  } catch {
    throw new Error(`not a JSON envelope (exit ${exitCode}):\nstdout: ${stdout}\nstderr: ${stderr}\nerror: ${error?.stack}`)
  }
  return {envelope, exitCode, stderr}
}

/**
 * The environment of a bin/run.js subprocess: this process's, plus `env`, without the NODE_ENV=test
 * vitest sets. A user's shell has none; under NODE_ENV=test oclif registers tsx in every process
 * (about 0.6 s of CPU per start-up, measured: keys list 1.1 s of CPU against 0.45 s).
 */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const {NODE_ENV: _testMode, ...rest} = {...process.env, ...env}
  return rest
}

export interface BinResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs bin/run.js as a subprocess: real exit codes, real stdout/stderr split. */
export function runBin(args: string[], options: {env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number} = {}): BinResult {
  const result = spawnSync(process.execPath, [binRun, ...args], {
    cwd: repoRoot,
    env: cliEnv(options.env),
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 120_000,
  })
  return {status: result.status, stdout: result.stdout, stderr: result.stderr}
}

/** Async variant, for long runs or ones a test kills. */
export function spawnBin(args: string[], env: NodeJS.ProcessEnv) {
  return spawn(process.execPath, [binRun, ...args], {cwd: repoRoot, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe']})
}

export function parseEnvelope<R = Record<string, unknown>>(stdout: string): Envelope<R> {
  return JSON.parse(stdout) as Envelope<R>
}
