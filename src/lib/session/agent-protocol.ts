/**
 * The unlocked-session agent's wire protocol and file layout, shared by the agent process
 * (agent-main.ts) and the commands that talk to it (agent.ts). Nothing here loads ethers or age:
 * the agent stays a small process.
 *
 * Layout: one agent per profile per home, listening on `<home>/agent/<profile>.sock`. The
 * directory is 0700 and the socket 0600, both owned by the user (the ssh-agent / gpg-agent
 * model): only the user's own processes (and root) can connect.
 *
 * Protocol: one request per connection, one newline-terminated JSON object each way, version 1.
 *   {"v":1,"op":"status"}                                          -> {"ok":true,"status":{…}}
 *   {"v":1,"op":"identity","profile":P,"identity":I,"address":A}   -> {"ok":true,"keys":{…}}
 *   {"v":1,"op":"lock"}                                            -> {"ok":true} and the agent exits
 * A request the agent cannot serve gets {"ok":false,"code":"E_…","message":…}; the caller then
 * falls back to the passphrase.
 */
import {join} from 'node:path'
import {MedctlError, usageError} from '../core/errors.js'
import {isSafeName} from '../config/paths.js'

export const AGENT_PROTOCOL_VERSION = 1
/** A request or response line longer than this is refused (a request is a few hundred bytes). */
export const MAX_LINE_BYTES = 16 * 1024
/** The default and the longest lifetime of an unlocked session. */
export const DEFAULT_UNLOCK_MS = 15 * 60 * 1000
export const MAX_UNLOCK_MS = 12 * 60 * 60 * 1000
/** sockaddr_un.sun_path holds 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107

/** The decrypted key material the agent holds for one profile (hex / age strings, as on disk when decrypted). */
export interface AgentKeys {
  privateKey: string
  ageIdentity: string
  pseudonymKey?: string
}

/** What `unlock` hands to the agent process on its stdin (never argv, never the environment). */
export interface AgentHandoff {
  v: typeof AGENT_PROTOCOL_VERSION
  profile: string
  identity: string
  address: string
  /** Epoch milliseconds after which the agent answers nothing and exits. */
  deadline: number
  socket: string
  keys: AgentKeys
}

export type AgentRequest =
  | {v: typeof AGENT_PROTOCOL_VERSION; op: 'status'}
  | {v: typeof AGENT_PROTOCOL_VERSION; op: 'lock'}
  | {v: typeof AGENT_PROTOCOL_VERSION; op: 'identity'; profile: string; identity: string; address: string}

export interface AgentStatusBody {
  profile: string
  identity: string
  address: string
  pid: number
  /** ISO time the agent exits. */
  deadline: string
}

export type AgentResponse = {ok: true; status?: AgentStatusBody; keys?: AgentKeys} | {ok: false; code: string; message: string}

export function agentDir(home: string): string {
  return join(home, 'agent')
}

/** `<home>/agent/<profile>.sock`; E_AGENT_PATH_TOO_LONG when the OS could not bind it. */
export function agentSocketPath(home: string, profile: string): string {
  if (!isSafeName(profile)) throw usageError('E_BAD_NAME', 'The profile name is not a safe name.')
  const path = join(agentDir(home), `${profile}.sock`)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new MedctlError(
      'E_AGENT_PATH_TOO_LONG',
      `The agent's socket path would be ${Buffer.byteLength(path)} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}.`,
      {
        exitCode: 2,
        suggestions: ['Use a shorter MEDCTL_HOME or a shorter profile name.'],
      },
    )
  }
  return path
}

/**
 * `--for`: a duration such as 90s, 15m, 2h or 1h30m (units h, m, s, each at most once, in that
 * order), from 1 s to 12 h. Anything else is E_BAD_DURATION (exit 2) saying what is accepted.
 */
export function parseUnlockDuration(text: string): number {
  const trimmed = text.trim().toLowerCase()
  const match = /^(?:(\d{1,5})h)?(?:(\d{1,5})m)?(?:(\d{1,6})s)?$/.exec(trimmed)
  const accepted = 'Give a duration such as 90s, 15m, 2h or 1h30m (from 1s to 12h).'
  if (!match || trimmed === '')
    throw usageError('E_BAD_DURATION', `--for ${JSON.stringify(text.slice(0, 20))} is not a duration.`, [accepted])
  const ms = (Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0)) * 1000
  if (ms < 1000) throw usageError('E_BAD_DURATION', '--for must be at least 1s.', [accepted])
  if (ms > MAX_UNLOCK_MS)
    throw usageError('E_BAD_DURATION', '--for may be at most 12h: an unlocked session is meant for a working day, not for ever.', [
      accepted,
    ])
  return ms
}
