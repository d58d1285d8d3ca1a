import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, openSync} from 'node:fs'
import {createRequire} from 'node:module'
import {createServer} from 'node:net'
import {dirname, join} from 'node:path'
import {MedctlError} from '../core/errors.js'

const require = createRequire(import.meta.url)

/** The anvil binary shipped inside the npm package for this platform. */
export function anvilBinaryPath(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const platformPackage = `@foundry-rs/anvil-${process.platform}-${arch}`
  try {
    const pkg = require.resolve(`${platformPackage}/package.json`)
    const binary = join(dirname(pkg), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil')
    if (existsSync(binary)) return binary
  } catch {
    // fall through to the error below
  }
  throw new MedctlError('E_ANVIL_MISSING', `The anvil binary for ${process.platform}-${arch} is not installed.`, {
    suggestions: ['Run `npm ci` (anvil comes from the npm package @foundry-rs/anvil).'],
  })
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** JSON-RPC call with a short timeout; used for readiness and status probes. */
export async function rpcCall<T>(rpcUrl: string, method: string, params: unknown[] = [], timeoutMs = 2000): Promise<T> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({jsonrpc: '2.0', id: 1, method, params}),
    signal: AbortSignal.timeout(timeoutMs),
  })
  const body = (await response.json()) as {result?: T; error?: {message: string}}
  if (body.error) throw new Error(`${method}: ${body.error.message}`)
  return body.result as T
}

export async function waitForRpc(rpcUrl: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      await rpcCall<string>(rpcUrl, 'eth_chainId', [], 1000)
      return
    } catch (error) {
      lastError = error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new MedctlError('E_NODE_UNREACHABLE', `The node at ${rpcUrl} did not answer within ${timeoutMs} ms.`, {cause: lastError})
}

export interface AnvilOptions {
  port?: number
  chainId?: number
  /** anvil --state FILE: load at start, dump on exit and every stateInterval seconds. */
  stateFile?: string
  stateInterval?: number
  /** Where anvil's stdout/stderr go; default ignored. */
  logFile?: string
  /** Detach so the node outlives this process (medctl node start). */
  detached?: boolean
  extraArgs?: string[]
  /** The daemon's environment; default daemonEnv(): this process's without any MEDCTL_* variable. */
  env?: NodeJS.ProcessEnv
}

/**
 * The environment of a process medctl starts and leaves running (anvil): this process's
 * environment minus every MEDCTL_* variable, so the passphrase (MEDCTL_PASSPHRASE), a passphrase
 * file path or any other medctl setting never outlives the command in /proc/<pid>/environ.
 */
export function daemonEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.toUpperCase().startsWith('MEDCTL_')))
}

export interface AnvilHandle {
  rpcUrl: string
  port: number
  chainId: number
  process: ChildProcess
  stop(): Promise<void>
}

/** Starts anvil on 127.0.0.1 and waits until it answers JSON-RPC. */
export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilHandle> {
  const port = options.port ?? (await freePort())
  const chainId = options.chainId ?? 31337
  const args = ['--host', '127.0.0.1', '--port', String(port), '--chain-id', String(chainId), '--silent']
  if (options.stateFile) {
    args.push('--state', options.stateFile)
    if (options.stateInterval) args.push('--state-interval', String(options.stateInterval))
  }
  args.push(...(options.extraArgs ?? []))
  let stdio: 'ignore' | ['ignore', number, number] = 'ignore'
  let logFd: number | undefined
  if (options.logFile) {
    logFd = openSync(options.logFile, 'a', 0o600)
    stdio = ['ignore', logFd, logFd]
  }
  const child = spawn(anvilBinaryPath(), args, {stdio, detached: options.detached ?? false, env: options.env ?? daemonEnv()})
  if (logFd !== undefined) closeSync(logFd)
  if (options.detached) child.unref()
  const rpcUrl = `http://127.0.0.1:${port}`
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new MedctlError('E_NODE_START', `anvil exited with code ${code} before it was ready.`))),
  )
  exited.catch(() => undefined)
  await Promise.race([waitForRpc(rpcUrl), exited])
  return {
    rpcUrl,
    port,
    chainId,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      await done
    },
  }
}

/** anvil's well-known development accounts (mnemonic "test test ... junk"), used only to fund local wallets. */
export const ANVIL_DEV_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
] as const
