/**
 * Exit codes are a published contract (README, every command's description).
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  PARTIAL: 3,
  VERIFY_FAILED: 4,
  DENIED: 5,
  CANCELLED: 130,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export interface MedctlErrorOptions {
  exitCode?: ExitCodeValue
  suggestions?: string[]
  cause?: unknown
  /** Extra machine-readable detail, included in the JSON error envelope as `details`. */
  details?: Record<string, unknown>
}

/**
 * The one error type services throw. `code` is stable (`E_*`), `message` is for humans.
 * Services never print: commands turn this into the envelope and the exit code.
 */
export class MedctlError extends Error {
  readonly code: string
  readonly exitCode: ExitCodeValue
  readonly suggestions: string[]
  readonly details?: Record<string, unknown>

  constructor(code: string, message: string, options: MedctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'MedctlError'
    this.code = code
    this.exitCode = options.exitCode ?? ExitCode.FAILURE
    this.suggestions = options.suggestions ?? []
    this.details = options.details
  }
}

export function usageError(code: string, message: string, suggestions: string[] = []): MedctlError {
  return new MedctlError(code, message, {exitCode: ExitCode.USAGE, suggestions})
}

/** A short, printable rendering of a value read from input (never a whole line, no control characters). */
export function quoteInput(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : String(value)
  const cut = text.length > max ? `${text.slice(0, max)}…` : text
  return JSON.stringify(cut)
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL'])

/**
 * Maps an operating-system or SQLite error to its stable code, or undefined when it is not one we
 * know: ENOSPC / EDQUOT / SQLITE_FULL -> E_DISK_FULL; SQLITE_CORRUPT* / SQLITE_NOTADB ->
 * E_CORRUPT_DATABASE. `file` (a path under the home or one the user named) goes into the message.
 */
export function fromSystemError(error: unknown, file?: string): MedctlError | undefined {
  if (error instanceof MedctlError) return error
  const code = (error as {code?: unknown})?.code
  if (typeof code !== 'string') return undefined
  const where = file ? ` (${file})` : ''
  if (DISK_FULL.has(code)) {
    return new MedctlError('E_DISK_FULL', `The disk is full${where}: nothing was left half-written.`, {
      cause: error,
      suggestions: ['Free some space (or raise the quota) and run the command again.'],
      ...(file ? {details: {file}} : {}),
    })
  }
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new MedctlError('E_CORRUPT_DATABASE', `The database${where} is not a valid medctl database or is damaged (${code}).`, {
      cause: error,
      suggestions: ['Restore the database from a backup; `medctl store verify` checks a restored one.'],
      ...(file ? {details: {file}} : {}),
    })
  }
  return undefined
}
