import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {MedctlError} from '../core/errors.js'
import {writePrivateFile} from '../config/keystore.js'
import {ensurePrivateDir, type MedctlPaths} from '../config/paths.js'
import {LOCAL_CHAIN_ID} from '../config/profiles.js'
import {daemonEnv, freePort, rpcCall, startAnvil} from './anvil.js'

/**
 * The embedded chain: anvil from npm, one per MEDCTL_HOME, detached so it outlives the command
 * that started it. anvil's own --state dump is periodic and not crash-safe, so medctl keeps the
 * state itself: `persistNodeState` writes anvil_dumpState atomically (temp, fsync, rename) and is
 * called after every confirmed write and on stop; a start loads the last dump. A kill -9 of the
 * node therefore loses nothing medctl has confirmed.
 */
export interface NodeInfo {
  pid: number
  port: number
  rpcUrl: string
  chainId: number
  startedAt: string
}

export interface NodeStatus {
  running: boolean
  rpcUrl: string | null
  chainId: number | null
  blockNumber: number | null
  pid: number | null
  stateFile: string
}

function files(paths: MedctlPaths) {
  return {
    info: join(paths.nodeDir, 'node.json'),
    state: join(paths.nodeDir, 'state.json'),
    log: join(paths.nodeDir, 'anvil.log'),
  }
}

function readInfo(paths: MedctlPaths): NodeInfo | undefined {
  const file = files(paths).info
  if (!existsSync(file)) return undefined
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as NodeInfo
  } catch {
    return undefined
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function answering(rpcUrl: string): Promise<boolean> {
  try {
    await rpcCall<string>(rpcUrl, 'eth_chainId', [], 1500)
    return true
  } catch {
    return false
  }
}

/** The running node, or undefined. A stale node.json (dead pid) is ignored. */
export async function runningNode(paths: MedctlPaths): Promise<NodeInfo | undefined> {
  const info = readInfo(paths)
  if (!info) return undefined
  if (!processAlive(info.pid) || !(await answering(info.rpcUrl))) return undefined
  return info
}

export async function nodeStatus(paths: MedctlPaths): Promise<NodeStatus> {
  const info = await runningNode(paths)
  const stateFile = files(paths).state
  if (!info) return {running: false, rpcUrl: null, chainId: null, blockNumber: null, pid: null, stateFile}
  const blockHex = await rpcCall<string>(info.rpcUrl, 'eth_blockNumber')
  return {running: true, rpcUrl: info.rpcUrl, chainId: info.chainId, blockNumber: Number(BigInt(blockHex)), pid: info.pid, stateFile}
}

export interface StartResult extends NodeInfo {
  alreadyRunning: boolean
  restoredState: boolean
}

export async function startNode(paths: MedctlPaths): Promise<StartResult> {
  const existing = await runningNode(paths)
  if (existing) return {...existing, alreadyRunning: true, restoredState: false}
  ensurePrivateDir(paths.nodeDir)
  const {state, log, info: infoFile} = files(paths)
  const previous = readInfo(paths)
  let port = previous?.port ?? (await freePort())
  if (previous && !(await portFree(port))) port = await freePort()
  const restoredState = existsSync(state)
  const handle = await startAnvil({
    port,
    chainId: LOCAL_CHAIN_ID,
    detached: true,
    logFile: log,
    extraArgs: restoredState ? ['--load-state', state] : [],
    // The node outlives this command: it gets no MEDCTL_* variable (no passphrase) in its environment.
    env: daemonEnv(),
  })
  const info: NodeInfo = {
    pid: handle.process.pid ?? 0,
    port,
    rpcUrl: handle.rpcUrl,
    chainId: LOCAL_CHAIN_ID,
    startedAt: new Date().toISOString(),
  }
  writePrivateFile(infoFile, `${JSON.stringify(info, null, 2)}\n`)
  return {...info, alreadyRunning: false, restoredState}
}

async function portFree(port: number): Promise<boolean> {
  const {createServer} = await import('node:net')
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Dumps the node's full state (blocks, transactions, accounts) to state.json atomically. */
export async function persistNodeState(paths: MedctlPaths, rpcUrl?: string): Promise<void> {
  const url = rpcUrl ?? (await runningNode(paths))?.rpcUrl
  if (!url) return
  const dump = await rpcCall<string>(url, 'anvil_dumpState', [], 60_000)
  const json = gunzipSync(Buffer.from(dump.replace(/^0x/, ''), 'hex'))
  ensurePrivateDir(paths.nodeDir)
  writePrivateFile(files(paths).state, json)
}

export interface StopResult {
  stopped: boolean
  wasRunning: boolean
}

export async function stopNode(paths: MedctlPaths): Promise<StopResult> {
  const info = await runningNode(paths)
  const {info: infoFile} = files(paths)
  if (!info) {
    rmSync(infoFile, {force: true})
    return {stopped: false, wasRunning: false}
  }
  await persistNodeState(paths, info.rpcUrl)
  process.kill(info.pid, 'SIGTERM')
  const deadline = Date.now() + 15_000
  while (processAlive(info.pid)) {
    if (Date.now() > deadline) {
      process.kill(info.pid, 'SIGKILL')
      break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  rmSync(infoFile, {force: true})
  return {stopped: true, wasRunning: true}
}

/** The RPC URL of the embedded node, starting it when needed. */
export async function ensureNode(paths: MedctlPaths): Promise<NodeInfo> {
  const running = await runningNode(paths)
  if (running) return running
  const started = await startNode(paths)
  if (!started.rpcUrl) throw new MedctlError('E_NODE_START', 'The embedded node did not start.')
  return started
}

/**
 * Funds an address from one of anvil's development accounts (a real transfer, mined and persisted).
 * Only ever used against the embedded node.
 */
export async function fundFromDevAccount(
  paths: MedctlPaths,
  rpcUrl: string,
  to: string,
  amountWei: bigint,
): Promise<{txHash: string; balance: bigint}> {
  const {JsonRpcProvider, Wallet} = await import('ethers')
  const provider = new JsonRpcProvider(rpcUrl, undefined, {cacheTimeout: -1, staticNetwork: true})
  try {
    const funder = new Wallet(DEV_FUNDER_KEY, provider)
    const nonce = await provider.getTransactionCount(funder.address, 'pending')
    const tx = await funder.sendTransaction({to, value: amountWei, nonce})
    await tx.wait()
    await persistNodeState(paths, rpcUrl)
    return {txHash: tx.hash, balance: await provider.getBalance(to)}
  } finally {
    provider.destroy()
  }
}

const DEV_FUNDER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
