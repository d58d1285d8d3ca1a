/**
 * The unlocked session (`medctl unlock`, issue 16): the client side of the agent in agent-main.ts.
 *
 * Design choice — the agent hands out key material; it does not sign or decrypt itself. A command
 * asks "the identity of profile P" and gets the wallet key, the age identity and the pseudonym key
 * back over a 0600 Unix socket in a 0700 directory, then works exactly as it does after deriving
 * them from the passphrase. Why not have the agent perform the operations (the stronger
 * ssh-agent model, where keys never leave the agent)? medctl uses its keys in bulk and in many
 * shapes: ethers signs transactions and EIP-712 data, age unwraps thousands of object keys per
 * export, the pseudonym key HMACs every patient identifier of an import. Moving each of those
 * behind a socket round trip would rewrite every consumer and make bulk jobs chatty, for a gain
 * only against an attacker who already runs code as the user — who can talk to the agent for as
 * long as it is unlocked in either model, and can read the encrypted key files and wait for the
 * passphrase. What the model does guarantee: only the user's processes (and root) can connect
 * (file modes; Node exposes no SO_PEERCRED to check the peer's uid, so the modes are checked by
 * both sides before use), a process gets the keys of the profile it names and no other, the keys
 * exist in the agent's memory only (never on disk, never in argv or the environment), and they are
 * gone on `medctl lock`, on the deadline (at most 12 h), or when the socket is removed.
 */
import {spawn} from 'node:child_process'
import {chmodSync, lstatSync, mkdirSync, readdirSync, rmSync} from 'node:fs'
import {createConnection} from 'node:net'
import {extname} from 'node:path'
import {fileURLToPath} from 'node:url'
import {Wallet, getAddress} from 'ethers'
import {MedctlError} from '../core/errors.js'
import {daemonEnv} from '../chain/anvil.js'
import {Keystore, type IdentityInfo, type UnlockedIdentity} from '../config/keystore.js'
import {isSafeName, type MedctlPaths} from '../config/paths.js'
import {ProfileStore} from '../config/profiles.js'
import {recipientOf} from '../age/writer.js'
import {
  AGENT_PROTOCOL_VERSION,
  MAX_LINE_BYTES,
  agentDir,
  agentSocketPath,
  type AgentHandoff,
  type AgentRequest,
  type AgentResponse,
  type AgentStatusBody,
} from './agent-protocol.js'

export {DEFAULT_UNLOCK_MS, MAX_UNLOCK_MS, agentSocketPath, parseUnlockDuration} from './agent-protocol.js'

/** How long a command waits for the agent before it uses the passphrase instead. */
const ASK_TIMEOUT_MS = 2000
/** How long `unlock` waits for the agent it started to listen. */
const START_TIMEOUT_MS = 15_000

export type AgentProbe =
  /** No agent for this profile. */
  | {state: 'absent'}
  /** A dead agent's socket was found and removed. */
  | {state: 'stale'}
  /** The socket or its directory is not private to this user: not used. */
  | {state: 'unsafe'; reason: string}
  /** An agent is there but did not answer properly. */
  | {state: 'unavailable'; reason: string}
  | {state: 'answered'; response: AgentResponse}

function currentUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined
}

/** Why a path is not private to this user (owner, mode, type), or undefined when it is. */
function notPrivate(path: string, kind: 'directory' | 'socket'): string | undefined {
  const stat = lstatSync(path)
  if (kind === 'directory' ? !stat.isDirectory() : !stat.isSocket()) return `${path} is not a ${kind}`
  const uid = currentUid()
  if (uid !== undefined && stat.uid !== uid) return `${path} belongs to uid ${stat.uid}, not ${uid}`
  if ((stat.mode & 0o077) !== 0) return `${path} has mode ${(stat.mode & 0o777).toString(8)} (group or others may use it)`
  return undefined
}

/** Removes a dead agent's socket, unless it was replaced since we looked (inode compared). */
function removeStale(socket: string, ino: number): void {
  try {
    if (lstatSync(socket).ino === ino) rmSync(socket, {force: true})
  } catch {
    // already gone
  }
}

/**
 * Sends one request to the agent of `profile` and reads its one-line answer. Never throws for an
 * agent problem: the caller decides (a command falls back to the passphrase).
 */
export async function askAgent(
  paths: MedctlPaths,
  profile: string,
  request: AgentRequest,
  timeoutMs = ASK_TIMEOUT_MS,
): Promise<AgentProbe> {
  const socket = agentSocketPath(paths.home, profile)
  let ino: number
  try {
    // No socket, nothing to say; a socket is used only when it and its directory are private.
    ino = lstatSync(socket).ino
    const unsafe = notPrivate(agentDir(paths.home), 'directory') ?? notPrivate(socket, 'socket')
    if (unsafe) return {state: 'unsafe', reason: unsafe}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {state: 'absent'}
    return {state: 'unavailable', reason: (error as Error).message}
  }
  return new Promise<AgentProbe>((resolve) => {
    let text = ''
    let settled = false
    const finish = (probe: AgentProbe): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      connection.destroy()
      resolve(probe)
    }
    const timer = setTimeout(() => finish({state: 'unavailable', reason: `no answer within ${timeoutMs} ms`}), timeoutMs)
    const connection = createConnection({path: socket})
    connection.setEncoding('utf8')
    connection.on('connect', () => connection.write(`${JSON.stringify(request)}\n`))
    connection.on('data', (chunk: string) => {
      text += chunk
      const newline = text.indexOf('\n')
      if (newline >= 0) {
        try {
          finish({state: 'answered', response: JSON.parse(text.slice(0, newline)) as AgentResponse})
        } catch {
          finish({state: 'unavailable', reason: 'the agent sent something that is not JSON'})
        }
      } else if (text.length > MAX_LINE_BYTES) finish({state: 'unavailable', reason: 'the agent sent too long a line'})
    })
    connection.on('end', () => finish({state: 'unavailable', reason: 'the agent closed the connection without an answer'}))
    connection.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') {
        // Nobody listens: an agent that died without cleaning up (kill -9, a crash, a reboot).
        removeStale(socket, ino)
        finish({state: 'stale'})
      } else if (error.code === 'ENOENT') finish({state: 'absent'})
      else finish({state: 'unavailable', reason: error.code ?? error.message})
    })
  })
}

/**
 * The profile's identity from its agent, checked against the identity's public record (address,
 * age recipient, pseudonym key present or not); undefined when there is no usable agent, and the
 * command then uses the passphrase. `onWarning` hears why an agent that is there was not used.
 */
export async function identityFromAgent(
  paths: MedctlPaths,
  profile: string,
  info: IdentityInfo,
  onWarning?: (message: string) => void,
): Promise<UnlockedIdentity | undefined> {
  const probe = await askAgent(paths, profile, {
    v: AGENT_PROTOCOL_VERSION,
    op: 'identity',
    profile,
    identity: info.name,
    address: info.address,
  })
  const skip = (why: string): undefined => {
    onWarning?.(`The unlocked session of profile "${profile}" was not used (${why}); using the passphrase.`)
    return undefined
  }
  if (probe.state === 'absent' || probe.state === 'stale') return undefined
  if (probe.state === 'unsafe' || probe.state === 'unavailable') return skip(probe.reason)
  const {response} = probe
  if (!response.ok) return response.code === 'E_AGENT_EXPIRED' ? undefined : skip(`${response.code}: ${response.message}`)
  const keys = response.keys
  if (!keys) return skip('the agent sent no keys')
  try {
    const wallet = new Wallet(keys.privateKey)
    const recipient = recipientOf(keys.ageIdentity)
    const pseudonymOk = info.hasPseudonymKey
      ? typeof keys.pseudonymKey === 'string' && /^[0-9a-f]{64}$/.test(keys.pseudonymKey)
      : keys.pseudonymKey === undefined
    if (getAddress(wallet.address) !== getAddress(info.address) || recipient !== info.recipient || !pseudonymOk)
      return skip('its keys are not those of this identity')
    return {
      ...info,
      wallet,
      ageIdentity: keys.ageIdentity,
      pseudonymKey: keys.pseudonymKey ? Buffer.from(keys.pseudonymKey, 'hex') : undefined,
    }
  } catch {
    return skip('its keys are not usable')
  }
}

export interface AgentState {
  profile: string
  unlocked: boolean
  socket: string
  pid: number | null
  identity: string | null
  address: string | null
  /** ISO time the session ends, null when locked. */
  deadline: string | null
  secondsLeft: number | null
}

function stateOf(profile: string, socket: string, status: AgentStatusBody | undefined): AgentState {
  if (!status) return {profile, unlocked: false, socket, pid: null, identity: null, address: null, deadline: null, secondsLeft: null}
  return {
    profile,
    unlocked: true,
    socket,
    pid: status.pid,
    identity: status.identity,
    address: status.address,
    deadline: status.deadline,
    secondsLeft: Math.max(0, Math.round((Date.parse(status.deadline) - Date.now()) / 1000)),
  }
}

/** Whether the profile (default: the current one) has an unlocked session, and until when. */
export async function agentStatus(paths: MedctlPaths, profileName: string | undefined): Promise<AgentState> {
  const profile = new ProfileStore(paths).resolve(profileName).name
  const socket = agentSocketPath(paths.home, profile)
  const probe = await askAgent(paths, profile, {v: AGENT_PROTOCOL_VERSION, op: 'status'})
  return stateOf(profile, socket, probe.state === 'answered' && probe.response.ok ? probe.response.status : undefined)
}

export interface LockResult {
  /** The profiles whose agent was running and has been told to end. */
  locked: string[]
  /** Profiles whose dead agent's socket was removed. */
  cleaned: string[]
}

/** Ends the agent of one profile (default: the current one), or of every profile of the home (`all`). Idempotent. */
export async function lockSessions(paths: MedctlPaths, target: {profile?: string} | {all: true}): Promise<LockResult> {
  let profiles: string[]
  if ('profile' in target) profiles = [new ProfileStore(paths).resolve(target.profile).name]
  else {
    try {
      profiles = readdirSync(agentDir(paths.home))
        .filter((name) => name.endsWith('.sock'))
        .map((name) => name.slice(0, -'.sock'.length))
        .filter((name) => isSafeName(name))
    } catch {
      profiles = []
    }
  }
  const result: LockResult = {locked: [], cleaned: []}
  for (const profile of profiles) {
    const probe = await askAgent(paths, profile, {v: AGENT_PROTOCOL_VERSION, op: 'lock'})
    if (probe.state === 'answered' && probe.response.ok) {
      result.locked.push(profile)
      await waitGone(agentSocketPath(paths.home, profile))
    } else if (probe.state === 'stale') result.cleaned.push(profile)
    else if (probe.state === 'unsafe') {
      throw new MedctlError('E_AGENT_UNSAFE', `The agent socket of profile "${profile}" is not private to this user: ${probe.reason}.`, {
        suggestions: [`Remove ${agentDir(paths.home)} after checking who created it.`],
      })
    }
  }
  return result
}

/** Waits (bounded) until a locked agent has removed its socket, so `lock` returns when it is over. */
async function waitGone(socket: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      lstatSync(socket)
    } catch {
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export interface UnlockResult extends AgentState {
  unlocked: true
  pid: number
  deadline: string
  /** An agent that was already running for this profile and has been replaced. */
  replaced: boolean
}

/** The agent's entry point next to this file (dist/…/agent-main.js, or the .ts source under tsx). */
function agentEntry(): {args: string[]} {
  const here = fileURLToPath(import.meta.url)
  const ext = extname(here)
  const entry = fileURLToPath(new URL(`./agent-main${ext}`, import.meta.url))
  return {args: ext === '.ts' ? ['--import', 'tsx', entry] : [entry]}
}

/** The agent's directory: created 0700; an existing one must be ours, and is made 0700. */
function prepareAgentDir(home: string): void {
  const dir = agentDir(home)
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const stat = lstatSync(dir)
  const uid = currentUid()
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    throw new MedctlError('E_AGENT_UNSAFE', `${dir} is not a directory owned by this user; medctl will not put an agent socket there.`, {
      suggestions: [`Remove ${dir} after checking who created it.`],
    })
  }
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700)
}

/**
 * `medctl unlock`: verifies the passphrase by decrypting the profile's identity (the one key
 * derivation of the session), ends an agent already serving the profile, and starts a detached
 * agent holding the keys until `forMs` from now.
 */
export async function unlockSession(
  paths: MedctlPaths,
  profileName: string | undefined,
  passphrase: () => Promise<string>,
  options: {forMs: number},
): Promise<UnlockResult> {
  const profile = new ProfileStore(paths).resolve(profileName)
  const socket = agentSocketPath(paths.home, profile.name)
  const identity = await new Keystore(paths).unlock(profile.identity, await passphrase())
  prepareAgentDir(paths.home)
  const previous = await lockSessions(paths, {profile: profile.name})
  const deadline = Date.now() + options.forMs
  const handoff: AgentHandoff = {
    v: AGENT_PROTOCOL_VERSION,
    profile: profile.name,
    identity: identity.name,
    address: identity.address,
    deadline,
    socket,
    keys: {
      privateKey: identity.wallet.privateKey,
      ageIdentity: identity.ageIdentity,
      ...(identity.pseudonymKey ? {pseudonymKey: identity.pseudonymKey.toString('hex')} : {}),
    },
  }
  const child = spawn(process.execPath, agentEntry().args, {
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
    // No MEDCTL_* variable (the passphrase) outlives this command in the agent's environment.
    env: daemonEnv(),
    cwd: '/',
  })
  const pid = await new Promise<number>((resolve, reject) => {
    let out = ''
    const fail = (why: string): void => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(
        new MedctlError('E_AGENT_START', `The session agent did not start (${why}).`, {
          suggestions: ['Run the command again; commands keep working with the passphrase.'],
        }),
      )
    }
    const timer = setTimeout(() => fail(`no answer within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS)
    child.once('error', (error) => fail(error.message))
    child.once('exit', (code) => fail(`it exited with code ${code}`))
    child.stdin?.on('error', () => {})
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      out += chunk
      const match = /^ready (\d+)\n/.exec(out)
      if (match) {
        clearTimeout(timer)
        child.removeAllListeners('exit')
        resolve(Number(match[1]))
      }
    })
    child.stdin?.end(`${JSON.stringify(handoff)}\n`)
  })
  child.stdout?.destroy()
  child.unref()
  const state = stateOf(profile.name, socket, {
    profile: profile.name,
    identity: identity.name,
    address: identity.address,
    pid,
    deadline: new Date(deadline).toISOString(),
  })
  return {...state, unlocked: true, pid, deadline: state.deadline as string, replaced: previous.locked.length > 0}
}
