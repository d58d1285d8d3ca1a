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

export function isMedctlError(error: unknown): error is MedctlError {
  return error instanceof MedctlError
}
