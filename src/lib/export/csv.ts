import type {Cell, Table} from './tables.js'

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or LF; quotes doubled. */
export function csvField(value: Cell): string {
  if (value === null || value === undefined) return ''
  const s = typeof value === 'string' ? value : String(value)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** A table as RFC 4180 CSV: header line, CRLF line ends, empty field for null. */
export function tableToCsv(table: Table): string {
  const lines = [table.columns.map((c) => csvField(c.name)).join(',')]
  for (const row of table.rows) lines.push(row.map(csvField).join(','))
  return lines.join('\r\n') + '\r\n'
}
