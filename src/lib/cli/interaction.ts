import {fstatSync, openSync, readFileSync, closeSync} from 'node:fs'
import {MedctlError} from '../core/errors.js'

/** Whether medctl may prompt: both ends are terminals, no --json, no --no-input / MEDCTL_NO_INPUT. */
export function canPrompt(options: {json: boolean; noInput: boolean}): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !options.json && !options.noInput
}

export interface PassphraseOptions {
  json: boolean
  noInput: boolean
  /** --passphrase-file / MEDCTL_PASSPHRASE_FILE: read once, before MEDCTL_PASSPHRASE and the prompt. */
  file?: string
  /** Told when the passphrase file is readable by group or others. */
  onWarning?: (message: string) => void
  /** Ask twice and require a match (a new passphrase). */
  confirm?: boolean
  message?: string
}

/**
 * The passphrase comes from MEDCTL_PASSPHRASE or a prompt — never a flag (shell history, argv echoes).
 */
export async function readPassphrase(options: PassphraseOptions): Promise<string> {
  if (options.file) return readPassphraseFile(options.file, options.onWarning)
  const fromEnv = process.env.MEDCTL_PASSPHRASE
  if (fromEnv) return fromEnv
  if (!canPrompt(options)) {
    throw new MedctlError('E_PASSPHRASE_REQUIRED', 'A passphrase is needed and medctl may not prompt for it here.', {
      exitCode: 2,
      suggestions: [
        'Pass --passphrase-file FILE (or MEDCTL_PASSPHRASE_FILE), set MEDCTL_PASSPHRASE, or run in a terminal without --json / --no-input.',
      ],
    })
  }
  const {password} = await import('@inquirer/prompts')
  const message = options.message ?? 'Passphrase'
  const first = await password({message, mask: '*'}, {output: process.stderr})
  if (options.confirm) {
    const second = await password({message: 'Repeat the passphrase', mask: '*'}, {output: process.stderr})
    if (first !== second) throw new MedctlError('E_PASSPHRASE_MISMATCH', 'The two passphrases differ.', {exitCode: 2})
  }
  return first
}

/** A yes/no question for destructive commands; --yes answers it without a prompt. */
export async function confirmAction(message: string, options: {yes: boolean; json: boolean; noInput: boolean}): Promise<void> {
  if (options.yes) return
  if (!canPrompt(options)) {
    throw new MedctlError('E_CONFIRMATION_REQUIRED', `${message} — this needs confirmation.`, {
      exitCode: 2,
      suggestions: ['Re-run with --yes.'],
    })
  }
  const {confirm} = await import('@inquirer/prompts')
  const ok = await confirm({message, default: false}, {output: process.stderr})
  if (!ok) throw new MedctlError('E_CANCELLED', 'Cancelled.', {exitCode: 130})
}

/**
 * The passphrase from a file: its first line (one trailing LF or CRLF stripped; everything else
 * kept), read once. A file readable by group or others still works, with a warning.
 */
export function readPassphraseFile(file: string, onWarning?: (message: string) => void): string {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new MedctlError('E_PASSPHRASE_FILE', `The passphrase file cannot be read (${code ?? 'error'}).`, {
      exitCode: 2,
      cause: error,
      suggestions: ['Check the path given to --passphrase-file / MEDCTL_PASSPHRASE_FILE.'],
    })
  }
  let text: string
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) throw new MedctlError('E_PASSPHRASE_FILE', 'The passphrase file is not a regular file.', {exitCode: 2})
    if (stat.size > 64 * 1024)
      throw new MedctlError('E_PASSPHRASE_FILE', 'The passphrase file is larger than 64 KiB: not a passphrase.', {exitCode: 2})
    if ((stat.mode & 0o077) !== 0)
      onWarning?.(`The passphrase file is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it.`)
    text = readFileSync(fd, 'utf8')
  } finally {
    closeSync(fd)
  }
  const passphrase = text.replace(/\r?\n$/, '')
  if (passphrase === '') throw new MedctlError('E_PASSPHRASE_FILE', 'The passphrase file is empty.', {exitCode: 2})
  return passphrase
}
