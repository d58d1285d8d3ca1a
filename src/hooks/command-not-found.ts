import type {Hook} from '@oclif/core'
import {ExitCode} from '../lib/core/errors.js'

/** Edit distance, for the suggestion only. */
function distance(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length] as number
}

/**
 * An unknown command is a usage error like any other: exit 2 with code E_UNKNOWN_COMMAND, the JSON
 * envelope under --json, and the closest command as a suggestion. It never echoes what was typed
 * beyond a plain command word.
 */
const hook: Hook<'command_not_found'> = async function (options) {
  const typed = options.id.split(':')
  const ids = options.config.commands.filter((c) => !c.hidden).map((c) => c.id)
  const best = ids.map((id) => ({id, score: distance(typed.join(':'), id)})).sort((a, b) => a.score - b.score)[0]
  const suggestion = best && best.score <= Math.max(2, Math.floor(best.id.length / 3)) ? best.id.replaceAll(':', ' ') : undefined
  const shown = /^[a-z][a-z0-9:-]{0,40}$/.test(options.id) ? `"${options.id.replaceAll(':', ' ')}"` : 'That'
  const message = `${shown} is not a medctl command.`
  const suggestions = [
    ...(suggestion ? [`Did you mean: ${options.config.bin} ${suggestion}`] : []),
    `Run ${options.config.bin} --help for the list of commands.`,
  ]
  if ((options.argv ?? []).includes('--json')) {
    process.stdout.write(
      `${JSON.stringify({status: 'error', error: {code: 'E_UNKNOWN_COMMAND', message, exitCode: ExitCode.USAGE, suggestions}}, null, 2)}\n`,
    )
  } else {
    process.stderr.write(`Error [E_UNKNOWN_COMMAND]: ${message}\n`)
    for (const s of suggestions) process.stderr.write(`  Try: ${s}\n`)
  }
  process.exitCode = ExitCode.USAGE
  this.exit(ExitCode.USAGE)
}

export default hook
