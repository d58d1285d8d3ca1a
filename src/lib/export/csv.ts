import type {Cell, Table} from './tables.js'

/** A string that is a plain decimal number ("-5", "+1.5", "2e-3"): data, not a formula. */
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/** The first characters that make a spreadsheet read a cell as a formula (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/

/**
 * Neutralises a cell a spreadsheet would run as a formula: a string starting with `=`, `+`, `-`,
 * `@`, a tab or a carriage return gets a leading single quote (OWASP), so `=HYPERLINK(...)` is
 * shown as text. Numbers are left as they are, whether typed (INT32 / DOUBLE columns, e.g. a
 * negative value_quantity) or a string that is a plain decimal number ("-5", "+1.5"): they are
 * not formulas, and quoting them would corrupt numeric data. Every CSV medctl writes goes
 * through this (and csvField below).
 */
export function neutraliseCsvCell(value: string): string {
  return FORMULA_START.test(value) && !PLAIN_NUMBER.test(value) ? `'${value}` : value
}

/** One CSV field (RFC 4180): neutralised, then quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(value: Cell): string {
  if (value === null || value === undefined) return ''
  const s = typeof value === 'string' ? neutraliseCsvCell(value) : String(value)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** One CSV line from cells (no line end). */
export function csvLine(cells: readonly Cell[]): string {
  return cells.map(csvField).join(',')
}

/** A table as RFC 4180 CSV: header line, CRLF line ends, empty field for null. */
export function tableToCsv(table: Table): string {
  const lines = [csvLine(table.columns.map((c) => c.name))]
  for (const row of table.rows) lines.push(csvLine(row))
  return lines.join('\r\n') + '\r\n'
}
