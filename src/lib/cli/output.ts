import chalk from 'chalk'
import Table from 'cli-table3'
import type {ProgressEvent} from '../core/progress.js'

/**
 * Colour is off for NO_COLOR, --no-color and a stdout that is not a terminal (tables included).
 */
export function configureColor(options: {noColor: boolean}): void {
  const off = options.noColor || 'NO_COLOR' in process.env || !process.stdout.isTTY
  chalk.level = off ? 0 : chalk.level || 1
}

export function colorEnabled(): boolean {
  return chalk.level > 0
}

export function renderTable(head: string[], rows: Array<Array<string | number | boolean | null | undefined>>): string {
  const plain = !colorEnabled()
  const table = new Table({
    head: plain ? head : head.map((h) => chalk.bold(h)),
    style: plain ? {head: [], border: []} : {head: [], border: ['grey']},
  })
  for (const row of rows) table.push(row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))
  return table.toString()
}

/** Renders `key: value` lines for a flat record (nested values as JSON). */
export function renderFields(fields: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(fields).map((k) => k.length))
  return Object.entries(fields)
    .map(([key, value]) => `${chalk.bold(key.padEnd(width))}  ${value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join('\n')
}

export type {ProgressEvent} from '../core/progress.js'

/**
 * A progress line on stderr, redrawn in place; silent when stderr is not a TTY, in CI or under --json.
 */
export class ProgressReporter {
  private lastDraw = 0
  private drawn = false

  constructor(private readonly enabled: boolean) {}

  static for(options: {json: boolean}): ProgressReporter {
    const enabled = !options.json && Boolean(process.stderr.isTTY) && !process.env.CI
    return new ProgressReporter(enabled)
  }

  update = (event: ProgressEvent): void => {
    if (!this.enabled) return
    const now = Date.now()
    if (now - this.lastDraw < 100 && event.total !== event.done) return
    this.lastDraw = now
    const unit = event.unit ?? ''
    const ratio = event.total ? Math.min(1, event.done / event.total) : undefined
    const bar = ratio === undefined ? '' : `[${'#'.repeat(Math.round(ratio * 20)).padEnd(20, '.')}] `
    const counts = event.total ? `${event.done}/${event.total}` : `${event.done}`
    process.stderr.write(`\r\u001B[2K${event.phase ? `${event.phase} ` : ''}${bar}${counts} ${unit}`.trimEnd())
    this.drawn = true
  }

  finish(): void {
    if (this.enabled && this.drawn) process.stderr.write('\r\u001B[2K')
    this.drawn = false
  }
}
