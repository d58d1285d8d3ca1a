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

/**
 * A table for people on a terminal (fitted to its width: long cells wrap), plain TSV when stdout is
 * piped (one header line, one line per row, tabs and newlines in cells replaced by spaces).
 */
export function renderTable(
  head: string[],
  rows: Array<Array<string | number | boolean | null | undefined>>,
  options: {tty?: boolean; columns?: number} = {},
): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))))
  const tty = options.tty ?? Boolean(process.stdout.isTTY)
  if (!tty) return [head, ...cells].map((row) => row.map((cell) => cell.replace(/[\t\r\n]+/g, ' ')).join('\t')).join('\n')
  const plain = !colorEnabled()
  const columns = options.columns ?? process.stdout.columns ?? 120
  // Natural widths, then the widest columns give way until the table fits (borders: 3 per column + 1).
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)) + 2)
  const budget = Math.max(head.length * 6, columns - 1 - head.length)
  while (widths.reduce((a, b) => a + b, 0) > budget) {
    const widest = widths.indexOf(Math.max(...widths))
    if ((widths[widest] as number) <= 8) break
    widths[widest] = (widths[widest] as number) - 1
  }
  const table = new Table({
    head: plain ? head : head.map((h) => chalk.bold(h)),
    style: plain ? {head: [], border: []} : {head: [], border: ['grey']},
    colWidths: widths,
    wordWrap: true,
    wrapOnWordBoundary: false,
  })
  for (const row of cells) table.push(row)
  return table.toString()
}

/** Renders `key: value` lines for a flat record (nested values as JSON). */
export function renderFields(fields: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(fields).map((k) => k.length))
  return Object.entries(fields)
    .map(
      ([key, value]) =>
        `${chalk.bold(key.padEnd(width))}  ${value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
    )
    .join('\n')
}

export type {ProgressEvent} from '../core/progress.js'

/** Figures rounded for people: 12,345; 1.2k/s. */
const people = (n: number): string => Math.round(n).toLocaleString('en-US')

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  if (seconds < 60) return `${Math.ceil(seconds)}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * One progress line: phase, bar and done/total when the total is known, the rate once a second
 * has passed, and the time left when both are known. A phase with no count shows alone.
 */
export function formatProgress(event: ProgressEvent, elapsedMs: number): string {
  const unit = event.unit ?? ''
  const phase = event.phase ?? ''
  if (!unit && event.total === undefined && event.done === 0) return phase
  const ratio = event.total ? Math.min(1, event.done / event.total) : undefined
  const bar = ratio === undefined ? '' : `[${'#'.repeat(Math.round(ratio * 20)).padEnd(20, '.')}] `
  const counts = event.total ? `${people(event.done)}/${people(event.total)}` : people(event.done)
  const seconds = elapsedMs / 1000
  const rate = seconds >= 1 && event.done > 0 ? event.done / seconds : undefined
  const speed = rate === undefined ? '' : `, ${rate >= 100 ? people(rate) : rate.toFixed(1)} ${unit || 'items'}/s`
  const eta = rate !== undefined && event.total ? `, ${duration((event.total - event.done) / rate)} left` : ''
  return `${phase ? `${phase} ` : ''}${bar}${counts} ${unit}${speed}${eta}`.trimEnd()
}

/**
 * A progress line on stderr, redrawn in place; silent when stderr is not a TTY, in CI or under --json.
 */
export class ProgressReporter {
  private lastDraw = 0
  private drawn = false
  private started = Date.now()
  private phase?: string

  constructor(private readonly enabled: boolean) {}

  static for(options: {json: boolean}): ProgressReporter {
    const enabled = !options.json && Boolean(process.stderr.isTTY) && !process.env.CI
    return new ProgressReporter(enabled)
  }

  update = (event: ProgressEvent): void => {
    if (!this.enabled) return
    // A new phase restarts the clock its rate is measured with.
    if (event.phase !== this.phase) {
      this.phase = event.phase
      this.started = Date.now()
    }
    const now = Date.now()
    if (now - this.lastDraw < 100 && event.total !== event.done) return
    this.lastDraw = now
    process.stderr.write(`\r\u001B[2K${formatProgress(event, now - this.started)}`)
    this.drawn = true
  }

  finish(): void {
    if (this.enabled && this.drawn) process.stderr.write('\r\u001B[2K')
    this.drawn = false
  }
}
