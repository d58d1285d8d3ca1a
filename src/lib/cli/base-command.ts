import {Command, Errors, Flags, type Interfaces} from '@oclif/core'
import {ExitCode, MedctlError, fromSystemError, type ExitCodeValue} from '../core/errors.js'
import {canPrompt, confirmAction, readPassphrase} from './interaction.js'
import {configureColor, ProgressReporter} from './output.js'
import {acquireHomeLock, type HomeLock} from '../config/lock.js'
import {resolvePaths, type MedctlPaths} from '../config/paths.js'
import {Session} from '../session/session.js'

export type CommandFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>
export type CommandArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>

export interface ErrorEnvelope {
  status: 'error'
  error: {code: string; message: string; exitCode: number; suggestions: string[]; details?: Record<string, unknown>}
}

/** The published contract: `status` says what the exit code says (0 ok, 3 partial, 4 failed, 5 denied). */
export type SuccessStatus = 'ok' | 'partial' | 'failed' | 'denied'

export interface SuccessEnvelope<R> {
  status: SuccessStatus
  exitCode: number
  result: R
  warnings: string[]
}

const STATUS_OF: Partial<Record<number, SuccessStatus>> = {0: 'ok', 3: 'partial', 4: 'failed', 5: 'denied'}

const USAGE_ERRORS: Record<string, string> = {
  NonExistentFlagsError: 'E_UNKNOWN_FLAG',
  RequiredArgsError: 'E_MISSING_ARGUMENT',
  UnexpectedArgsError: 'E_UNEXPECTED_ARGUMENT',
  FailedFlagValidationError: 'E_INVALID_FLAGS',
  ViolatedFlagConstraintError: 'E_INVALID_FLAGS',
  FlagInvalidOptionError: 'E_INVALID_OPTION',
  ArgInvalidOptionError: 'E_INVALID_OPTION',
  InvalidArgsSpecError: 'E_USAGE',
  CLIParseError: 'E_USAGE',
}

/**
 * Commands that only read the home. Every other command writes to it (records, consents, audit
 * entries and anchors, keys, profiles, exports, the node) and so holds the home's writer lock
 * while it runs: one writer per home, a second one fails fast with E_BUSY. A command may decide
 * for itself with `static writesHome = true | false`.
 */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set([
  'profile:list',
  'profile:show',
  'keys:list',
  'keys:show',
  'records:list',
  'records:show',
  'records:key',
  'consent:check',
  'consent:list',
  'audit:verify',
  'audit:show',
  'audit:prove',
  'audit:check-proof',
  'contract:info',
  'node:status',
  'store:cat',
  'store:verify',
])

/** Whether a command takes the home's writer lock (see READ_ONLY_COMMANDS). */
export function writesHome(command: {id?: string; writesHome?: boolean}): boolean {
  if (typeof command.writesHome === 'boolean') return command.writesHome
  return !READ_ONLY_COMMANDS.has(command.id ?? '')
}

/** Secrets this process has read (a passphrase file): redacted from every message like MEDCTL_PASSPHRASE. */
const secrets = new Set<string>()

/**
 * Every medctl command extends this. It owns the JSON envelope, the exit-code contract (kept under
 * --json too, which oclif alone does not), the error rendering (no stack unless DEBUG), warnings on
 * stderr, colour and the no-input policy.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    'no-input': Flags.boolean({
      description: 'Never prompt; fail with exit 2 when an answer is missing.',
      env: 'MEDCTL_NO_INPUT',
      helpGroup: 'GLOBAL',
    }),
    'no-color': Flags.boolean({description: 'Disable colour (also NO_COLOR).', helpGroup: 'GLOBAL'}),
    'passphrase-file': Flags.string({
      description: 'Read the passphrase from this file (first line; keep it mode 0600) instead of MEDCTL_PASSPHRASE or a prompt.',
      env: 'MEDCTL_PASSPHRASE_FILE',
      helpGroup: 'GLOBAL',
    }),
  }

  /** true: holds the home's writer lock while it runs; false: never; unset: decided by READ_ONLY_COMMANDS. */
  static writesHome?: boolean

  protected flags!: CommandFlags<T>
  protected args!: CommandArgs<T>
  /** Every positional argument, for commands with `strict = false` (variadic paths). */
  protected positionals: string[] = []
  private readonly warnings: string[] = []
  private exitAfterResult: ExitCodeValue = ExitCode.OK
  private cachedPaths?: MedctlPaths
  private readonly sessions: Session[] = []
  private homeLock?: HomeLock
  private passphraseFromFile?: string

  public override async init(): Promise<void> {
    await super.init()
    configureColor({noColor: this.argv.includes('--no-color')})
    const {args, argv, flags} = await this.parse({
      flags: this.ctor.flags,
      baseFlags: (super.ctor as typeof BaseCommand).baseFlags,
      enableJsonFlag: this.ctor.enableJsonFlag,
      // Positional args never read stdin implicitly (oclif would fill a missing one from a pipe).
      args: Object.fromEntries(Object.entries(this.ctor.args ?? {}).map(([name, arg]) => [name, {...arg, ignoreStdin: true}])),
      strict: this.ctor.strict,
    })
    this.flags = flags as CommandFlags<T>
    this.args = args as CommandArgs<T>
    this.positionals = argv as string[]
    if (writesHome(this.ctor as typeof BaseCommand)) {
      this.homeLock = acquireHomeLock(this.paths, (this.id ?? this.ctor.name).replaceAll(':', ' '))
    }
  }

  /**
   * For a command that writes the home only in some cases (declared `writesHome = false`): takes the
   * writer lock when it turns out to write; a no-op when the lock is already held.
   */
  protected lockHome(): void {
    this.homeLock ??= acquireHomeLock(this.paths, (this.id ?? this.ctor.name).replaceAll(':', ' '))
  }

  protected get paths(): MedctlPaths {
    this.cachedPaths ??= resolvePaths({configDir: this.config.configDir, dataDir: this.config.dataDir})
    return this.cachedPaths
  }

  /** The profile's session: identity from its unlocked-session agent, else the passphrase policy above. */
  protected openSession(profileName?: string): Session {
    const session = new Session(this.paths, profileName, () => this.passphrase(), {onWarning: (message) => this.warn(message)})
    const rpcTimeout = (this.flags as Record<string, unknown>)['rpc-timeout']
    if (typeof rpcTimeout === 'number') session.rpcTimeoutMs = rpcTimeout
    this.sessions.push(session)
    return session
  }

  public override async finally(error: Error | undefined): Promise<void> {
    try {
      for (const session of this.sessions) session.close()
    } finally {
      this.homeLock?.release()
      this.homeLock = undefined
    }
    await super.finally(error)
  }

  protected get noInput(): boolean {
    return Boolean((this.flags as {'no-input'?: boolean})['no-input'])
  }

  protected get interactive(): boolean {
    return canPrompt({json: this.jsonEnabled(), noInput: this.noInput})
  }

  /** The passphrase: --passphrase-file (read once), else MEDCTL_PASSPHRASE, else a prompt. */
  protected async passphrase(options: {confirm?: boolean; message?: string} = {}): Promise<string> {
    const file = (this.flags as {'passphrase-file'?: string})['passphrase-file']
    if (file) {
      if (this.passphraseFromFile === undefined) {
        this.passphraseFromFile = await readPassphrase({
          json: this.jsonEnabled(),
          noInput: this.noInput,
          file,
          onWarning: (m) => this.warn(m),
        })
        secrets.add(this.passphraseFromFile)
      }
      return this.passphraseFromFile
    }
    return readPassphrase({json: this.jsonEnabled(), noInput: this.noInput, ...options})
  }

  protected confirm(message: string, yes: boolean): Promise<void> {
    return confirmAction(message, {yes, json: this.jsonEnabled(), noInput: this.noInput})
  }

  protected progress(): ProgressReporter {
    return ProgressReporter.for({json: this.jsonEnabled()})
  }

  /** A warning: on stderr for humans, in the envelope's `warnings` under --json. */
  public override warn(input: string | Error): string | Error {
    const message = typeof input === 'string' ? input : input.message
    this.warnings.push(message)
    if (!this.jsonEnabled()) process.stderr.write(`Warning: ${message}\n`)
    return input
  }

  /** Informational line for humans on stderr (never stdout, which carries data only). */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${message}\n`)
  }

  /** Exit with this code after the result has been printed (partial success, denied decision…). */
  protected setExitCode(code: ExitCodeValue): void {
    this.exitAfterResult = code
  }

  /** `status` mirrors the exit code, so a script reading it alone is never misled (see README). */
  protected override toSuccessJson(result: unknown): SuccessEnvelope<unknown> {
    return {status: STATUS_OF[this.exitAfterResult] ?? 'ok', exitCode: this.exitAfterResult, result, warnings: this.warnings}
  }

  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`)
  }

  public override async _run<R>(): Promise<R> {
    const result = await super._run<R>()
    if (this.exitAfterResult !== ExitCode.OK) throw new Errors.ExitError(this.exitAfterResult)
    return result
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<never> {
    if (error instanceof Errors.ExitError) throw error
    const envelope = toErrorEnvelope(error)
    if (this.jsonEnabled()) {
      this.logJson(envelope)
    } else {
      const {code, message, suggestions} = envelope.error
      const [first, ...rest] = message.split('\n')
      process.stderr.write(`Error [${code}]: ${first}\n`)
      for (const line of rest) process.stderr.write(`  ${line}\n`)
      for (const suggestion of suggestions) process.stderr.write(`  Try: ${suggestion}\n`)
      if (process.env.DEBUG && error.stack) process.stderr.write(`${error.stack}\n`)
    }
    throw new Errors.ExitError(envelope.error.exitCode)
  }
}

function redact(text: string): string {
  let out = text
  for (const secret of [process.env.MEDCTL_PASSPHRASE, ...secrets]) if (secret) out = out.split(secret).join('[redacted]')
  return out
}

/** oclif wraps a flag's parse failure as `Parsing --flag \n\t<reason>\nSee more help with --help`. */
const FLAG_PARSE = /^Parsing (--[\w-]+) \n\t([\s\S]*?)(?:\nSee more help with --help)?$/

function envelopeOf(error: MedctlError): ErrorEnvelope {
  const message = FLAG_PARSE.exec(error.message)?.[2] ?? error.message
  return {
    status: 'error',
    error: {
      code: error.code,
      message: redact(message),
      exitCode: error.exitCode,
      suggestions: error.suggestions.map(redact),
      ...(error.details ? {details: error.details} : {}),
    },
  }
}

/** Turns any error into the published envelope; oclif parse errors become exit-2 usage errors. */
export function toErrorEnvelope(error: unknown): ErrorEnvelope {
  if (error instanceof MedctlError) return envelopeOf(error)
  const system = fromSystemError(error)
  if (system) return envelopeOf(system)
  const flagParse = error instanceof Error ? FLAG_PARSE.exec(error.message) : null
  if (flagParse) {
    // The reason without the value given (it may be a secret or a path): "Expected an integer less than or equal to 500".
    const reason = flagParse[2]
      .replace(/\s*but received:[\s\S]*$/, '')
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/\.$/, '')
    return {
      status: 'error',
      error: {
        code: 'E_INVALID_FLAGS',
        message: redact(`Invalid value for ${flagParse[1]}: ${reason.charAt(0).toLowerCase()}${reason.slice(1)}.`),
        exitCode: ExitCode.USAGE,
        suggestions: ['See --help for the flags and arguments.'],
      },
    }
  }
  const name = (error as {constructor?: {name?: string}})?.constructor?.name ?? ''
  const isParseError = Boolean(USAGE_ERRORS[name]) || (typeof error === 'object' && error !== null && 'parse' in error)
  if (isParseError) {
    return {
      status: 'error',
      error: {
        code: USAGE_ERRORS[name] ?? 'E_USAGE',
        message: usageMessage(name, error).replace(/(--?[\w-]+)=\S+/g, '$1'),
        exitCode: ExitCode.USAGE,
        suggestions: ['See --help for the flags and arguments.'],
      },
    }
  }
  if (isPromptCancel(error)) {
    return {status: 'error', error: {code: 'E_CANCELLED', message: 'Cancelled.', exitCode: ExitCode.CANCELLED, suggestions: []}}
  }
  const message = error instanceof Error ? error.message : String(error)
  return {
    status: 'error',
    error: {
      code: 'E_UNEXPECTED',
      message: redact(message),
      exitCode: ExitCode.FAILURE,
      suggestions: ['Set DEBUG=1 to see the stack trace.'],
    },
  }
}

function isPromptCancel(error: unknown): boolean {
  const name = (error as {name?: string})?.name
  return name === 'ExitPromptError' || name === 'AbortPromptError'
}

/** A message built from the command's definition only: it never echoes argv (values may be secrets or paths). */
function usageMessage(name: string, error: unknown): string {
  const e = error as {flags?: string[]; args?: Array<{name: string}>; message?: string}
  switch (name) {
    case 'NonExistentFlagsError': {
      const flags = (e.flags ?? []).map((flag) => flag.split('=')[0]).filter((flag) => /^--?[a-zA-Z][\w-]*$/.test(flag))
      return flags.length > 0 ? `Unknown flag: ${flags.join(', ')}.` : 'Unknown flag.'
    }
    case 'RequiredArgsError':
      return `Missing required argument: ${(e.args ?? []).map((arg) => arg.name.toUpperCase()).join(', ')}.`
    case 'UnexpectedArgsError':
      return 'Too many arguments.'
    case 'FlagInvalidOptionError':
    case 'ArgInvalidOptionError':
      return (e.message ?? 'Invalid value.')
        .replace(/Expected (--?[\w-]+)=\S* /, 'Expected $1 ')
        .replace(/Expected \S+ to be one of/, 'Expected a value that is one of')
    case 'FailedFlagValidationError':
    case 'ViolatedFlagConstraintError':
      // One line per problem, each naming its flag as typed (--out, not out).
      return (e.message ?? 'Invalid flags.')
        .replace(/^The following errors? occurred:\s*/, '')
        .replace(/\s*See more help with --help\s*$/, '')
        .split('\n')
        .map((line) => line.trim().replace(/^Missing required flag ([a-z][\w-]*)$/, 'Missing required flag --$1.'))
        .filter(Boolean)
        .join('\n')
    default:
      return 'Invalid usage.'
  }
}
