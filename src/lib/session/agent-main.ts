/**
 * The unlocked-session agent: a small detached process `medctl unlock` starts (see agent.ts). It
 * reads the decrypted keys of one profile from its stdin, listens on a 0600 Unix socket in the
 * home's 0700 agent directory, hands the keys to the user's own medctl commands that ask for that
 * profile (agent-protocol.ts), and exits on `medctl lock`, on its deadline, on SIGTERM/SIGINT/SIGHUP,
 * or as soon as its socket is removed or replaced. It never writes a key anywhere: the keys live
 * in this process's memory only, and are dropped before it exits.
 *
 * Run as `node agent-main.js`; it does nothing useful without the handoff on stdin.
 */
import {chmodSync, lstatSync, renameSync, rmSync} from 'node:fs'
import {createServer, type Socket} from 'node:net'
import {dirname, join} from 'node:path'
import {
  AGENT_PROTOCOL_VERSION,
  MAX_LINE_BYTES,
  MAX_UNLOCK_MS,
  type AgentHandoff,
  type AgentKeys,
  type AgentRequest,
  type AgentResponse,
} from './agent-protocol.js'

/** How often the agent checks its deadline (the clock may jump: suspend, NTP) and its socket. */
const WATCH_MS = 500
/** A client that sends no complete request within this is dropped. */
const CLIENT_TIMEOUT_MS = 5000

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (chunk: string) => {
      text += chunk
      if (text.length > MAX_LINE_BYTES) reject(new Error('handoff too large'))
    })
    process.stdin.on('end', () => resolve(text))
    process.stdin.on('error', reject)
  })
}

function parseHandoff(text: string): AgentHandoff {
  const value = JSON.parse(text) as Partial<AgentHandoff>
  const keys = value.keys as Partial<AgentKeys> | undefined
  const ok =
    value.v === AGENT_PROTOCOL_VERSION &&
    typeof value.profile === 'string' &&
    typeof value.identity === 'string' &&
    typeof value.address === 'string' &&
    typeof value.socket === 'string' &&
    typeof value.deadline === 'number' &&
    value.deadline > Date.now() &&
    value.deadline <= Date.now() + MAX_UNLOCK_MS + 60_000 &&
    keys !== undefined &&
    typeof keys.privateKey === 'string' &&
    typeof keys.ageIdentity === 'string' &&
    (keys.pseudonymKey === undefined || typeof keys.pseudonymKey === 'string')
  if (!ok) throw new Error('bad handoff')
  return value as AgentHandoff
}

async function main(): Promise<void> {
  // Everything this process creates is private; it pins no directory.
  process.umask(0o077)
  process.chdir('/')
  process.stdout.on('error', () => {})
  const handoff = parseHandoff(await readStdin())
  let keys: AgentKeys | undefined = handoff.keys
  const {profile, identity, address, deadline, socket} = handoff
  const tmp = join(dirname(socket), `.${process.pid}.sock.tmp`)
  /** The inode of our socket once it is in place, and the timer that watches it. */
  const bound: {ino?: number; watch?: NodeJS.Timeout} = {}
  let stopping = false

  const server = createServer({allowHalfOpen: false}, serve)

  function shutdown(): void {
    if (stopping) return
    stopping = true
    keys = undefined
    handoff.keys = {privateKey: '', ageIdentity: ''}
    clearInterval(bound.watch)
    clearTimeout(expiry)
    try {
      // Remove the socket only while it is still ours (a newer agent may have replaced it).
      if (bound.ino !== undefined && lstatSync(socket).ino === bound.ino) rmSync(socket, {force: true})
    } catch {
      // already gone
    }
    rmSync(tmp, {force: true})
    server.close()
    process.exit(0)
  }

  function expired(): boolean {
    return Date.now() >= deadline
  }

  function answer(request: AgentRequest): AgentResponse {
    if (expired() || !keys) return {ok: false, code: 'E_AGENT_EXPIRED', message: 'The unlocked session has ended.'}
    switch (request.op) {
      case 'status':
        return {ok: true, status: {profile, identity, address, pid: process.pid, deadline: new Date(deadline).toISOString()}}
      case 'lock':
        return {ok: true}
      case 'identity': {
        // Keyed per profile: a request for another profile, or for this profile now pointing at
        // another identity, is refused, and the caller uses the passphrase.
        if (
          request.profile !== profile ||
          request.identity !== identity ||
          String(request.address).toLowerCase() !== address.toLowerCase()
        ) {
          return {ok: false, code: 'E_AGENT_WRONG_PROFILE', message: `This agent holds profile "${profile}" only.`}
        }
        return {ok: true, keys: {...keys}}
      }
      default:
        return {ok: false, code: 'E_AGENT_BAD_REQUEST', message: 'Unknown request.'}
    }
  }

  function serve(client: Socket): void {
    client.setTimeout(CLIENT_TIMEOUT_MS, () => client.destroy())
    client.on('error', () => {})
    client.setEncoding('utf8')
    let buffer = ''
    let done = false
    client.on('data', (chunk: string) => {
      if (done) return
      buffer += chunk
      const newline = buffer.indexOf('\n')
      if (newline < 0 && buffer.length <= MAX_LINE_BYTES) return
      done = true
      let response: AgentResponse
      let request: AgentRequest | undefined
      if (newline < 0 || newline > MAX_LINE_BYTES) response = {ok: false, code: 'E_AGENT_BAD_REQUEST', message: 'Request too long.'}
      else {
        try {
          request = JSON.parse(buffer.slice(0, newline)) as AgentRequest
          response =
            request && request.v === AGENT_PROTOCOL_VERSION
              ? answer(request)
              : {
                  ok: false,
                  code: 'E_AGENT_BAD_REQUEST',
                  message: `Unsupported protocol version (this agent speaks ${AGENT_PROTOCOL_VERSION}).`,
                }
        } catch {
          response = {ok: false, code: 'E_AGENT_BAD_REQUEST', message: 'The request is not JSON.'}
        }
      }
      const locking = request?.op === 'lock' && response.ok
      client.end(`${JSON.stringify(response)}\n`, () => {
        if (locking || expired()) shutdown()
      })
    })
  }

  const expiry = setTimeout(shutdown, Math.max(0, deadline - Date.now()))
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, shutdown)
  process.on('uncaughtException', shutdown)

  // Bind under a temporary name, make it 0600, then rename it into place: the public path only
  // ever names a socket that is listening and private.
  rmSync(tmp, {force: true})
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(tmp, () => {
      server.off('error', reject)
      resolve()
    })
  })
  chmodSync(tmp, 0o600)
  renameSync(tmp, socket)
  bound.ino = lstatSync(socket).ino
  bound.watch = setInterval(() => {
    if (expired()) return shutdown()
    try {
      if (lstatSync(socket).ino !== bound.ino) shutdown()
    } catch {
      shutdown() // removed: nobody can reach this agent any more
    }
  }, WATCH_MS)
  process.stdout.write(`ready ${process.pid}\n`)
}

main().catch(() => {
  process.exit(1)
})
