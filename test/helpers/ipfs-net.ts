/**
 * A real IPFS network for the tests: js-ipfs daemons (they serve Kubo's RPC API) in temporary
 * repos on free loopback ports, connected to each other and to nothing else. js-ipfs is a
 * test-only package under test/ipfs-net (its own package.json, overrides and lockfile), installed
 * by `.ci/run` with `npm ci --prefix test/ipfs-net`; it is never part of medctl's own install.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {repoRoot} from './cli.js'

export const IPFS_NET_DIR = join(repoRoot, 'test', 'ipfs-net')
const JSIPFS = join(IPFS_NET_DIR, 'node_modules', 'ipfs', 'src', 'cli.js')

export interface IpfsNode {
  /** Kubo RPC base URL (http://127.0.0.1:PORT), what medctl's Kubo store takes. */
  url: string
  peerId: string
  /** The node's loopback swarm address, with /p2p/PEERID. */
  swarm: string
  repo: string
  process: ChildProcess
}

export interface IpfsNet {
  nodes: IpfsNode[]
  /** Stops every daemon this net started (by its own pid) and deletes the repos. */
  stop(): Promise<void>
}

/** Whether js-ipfs is installed under test/ipfs-net; the error says how to install it. */
export function ipfsNetInstalled(): boolean {
  return existsSync(JSIPFS)
}

function requireInstalled(): void {
  if (!ipfsNetInstalled()) {
    throw new Error(`js-ipfs is not installed under ${IPFS_NET_DIR}: run \`npm ci --prefix test/ipfs-net\` (.ci/run does).`)
  }
}

async function rpc<T>(url: string, command: string, args: string[] = [], timeoutMs = 10_000): Promise<T> {
  const query = args.map((a) => `arg=${encodeURIComponent(a)}`).join('&')
  const response = await fetch(`${url}/api/v0/${command}${query ? `?${query}` : ''}`, {
    method: 'POST',
    signal: AbortSignal.timeout(timeoutMs),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`ipfs ${command} -> HTTP ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as T
}

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + deadlineMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      lastError = error
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`)
}

function stopProcess(child: ChildProcess, deadlineMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), deadlineMs)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

async function startNode(): Promise<IpfsNode> {
  const repo = mkdtempSync(join(tmpdir(), 'medctl-ipfs-'))
  const env = {...process.env, IPFS_PATH: repo, IPFS_MONITORING: '', DEBUG: ''}
  const init = spawnSync(process.execPath, [JSIPFS, 'init', '--profile=test', '--empty-repo'], {env, encoding: 'utf8', timeout: 60_000})
  if (init.status !== 0) {
    rmSync(repo, {recursive: true, force: true})
    throw new Error(`jsipfs init failed (${init.status ?? init.signal}): ${init.stderr.slice(0, 500)}`)
  }
  // Loopback only, every port chosen by the OS, no bootstrap peers, no discovery.
  const configPath = join(repo, 'config')
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, Record<string, unknown>> & {Bootstrap: string[]}
  config.Addresses = {
    ...config.Addresses,
    Swarm: ['/ip4/127.0.0.1/tcp/0'],
    API: '/ip4/127.0.0.1/tcp/0',
    Gateway: '/ip4/127.0.0.1/tcp/0',
    RPC: '/ip4/127.0.0.1/tcp/0',
    Announce: [],
    Delegates: [],
  }
  config.Bootstrap = []
  config.Discovery = {MDNS: {Enabled: false, Interval: 10}, webRTCStar: {Enabled: false}}
  writeFileSync(configPath, JSON.stringify(config, null, 2))

  const child = spawn(process.execPath, [JSIPFS, 'daemon', '--enable-preload=false'], {env, stdio: ['ignore', 'pipe', 'pipe']})
  let output = ''
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  try {
    // The daemon writes its API address to $IPFS_PATH/api once it listens.
    const url = await until('the js-ipfs daemon to listen', 60_000, () => {
      if (child.exitCode !== null) throw new Error(`jsipfs daemon exited (${child.exitCode}): ${output.slice(-800)}`)
      if (!/Daemon is ready/.test(output) || !existsSync(join(repo, 'api'))) return undefined
      const m = /\/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(readFileSync(join(repo, 'api'), 'utf8'))
      return m ? `http://${m[1]}:${m[2]}` : undefined
    })
    const id = await rpc<{ID: string; Addresses: string[]}>(url, 'id')
    const swarm = id.Addresses.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && !a.includes('/ws'))
    if (!swarm) throw new Error(`no loopback TCP swarm address among ${id.Addresses.join(', ')}`)
    return {url, peerId: id.ID, swarm: swarm.includes('/p2p/') ? swarm : `${swarm}/p2p/${id.ID}`, repo, process: child}
  } catch (error) {
    await stopProcess(child)
    rmSync(repo, {recursive: true, force: true})
    throw error
  }
}

/** Starts `count` js-ipfs daemons and connects each to every other (loopback, bitswap). */
export async function startIpfsNet(count = 2): Promise<IpfsNet> {
  requireInstalled()
  const settled = await Promise.allSettled(Array.from({length: count}, () => startNode()))
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => stopProcess(n.process)))
    for (const n of nodes) rmSync(n.repo, {recursive: true, force: true})
  }
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) {
    await stop()
    throw (failed as PromiseRejectedResult).reason
  }
  try {
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        await rpc(nodes[i].url, 'swarm/connect', [nodes[j].swarm], 20_000)
        await until(`${nodes[i].peerId} and ${nodes[j].peerId} to see each other`, 20_000, async () => {
          const peers = await rpc<{Peers: Array<{Peer: string}> | null}>(nodes[j].url, 'swarm/peers')
          return (peers.Peers ?? []).some((p) => p.Peer === nodes[i].peerId) ? true : undefined
        })
      }
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {nodes, stop}
}
