import {MedctlError} from './errors.js'

/** Whether medctl may prompt: both ends are terminals, no --json, no --no-input / MEDCTL_NO_INPUT. */
export function canPrompt(options: {json: boolean; noInput: boolean}): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !options.json && !options.noInput
}

export interface PassphraseOptions {
  json: boolean
  noInput: boolean
  /** Ask twice and require a match (a new passphrase). */
  confirm?: boolean
  message?: string
}

/**
 * The passphrase comes from MEDCTL_PASSPHRASE or a prompt — never a flag (shell history, argv echoes).
 */
export async function readPassphrase(options: PassphraseOptions): Promise<string> {
  const fromEnv = process.env.MEDCTL_PASSPHRASE
  if (fromEnv) return fromEnv
  if (!canPrompt(options)) {
    throw new MedctlError('E_PASSPHRASE_REQUIRED', 'A passphrase is needed and medctl may not prompt for it here.', {
      exitCode: 2,
      suggestions: ['Set MEDCTL_PASSPHRASE in the environment, or run in a terminal without --json / --no-input.'],
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
    throw new MedctlError('E_CONFIRMATION_REQUIRED', `${message} — this needs confirmation.`, {exitCode: 2, suggestions: ['Re-run with --yes.']})
  }
  const {confirm} = await import('@inquirer/prompts')
  const ok = await confirm({message, default: false}, {output: process.stderr})
  if (!ok) throw new MedctlError('E_CANCELLED', 'Cancelled.', {exitCode: 130})
}
