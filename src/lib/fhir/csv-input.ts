import {once} from 'node:events'
import {parse as parseCsv} from 'csv-parse'
import {fileLines, type LineProblem} from './lines.js'

/** One CSV record (the first is the header) with the line it ends on, or a problem at a line. */
export type CsvItem = {line: number; record: string[]; problem?: undefined} | {line?: number; record?: undefined; problem: LineProblem}

const CSV_PROBLEMS: Record<string, LineProblem> = {
  CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: {
    code: 'E_CSV_COLUMN_COUNT',
    message: 'The row has a different number of columns than the header.',
  },
  CSV_RECORD_INCONSISTENT_COLUMNS: {code: 'E_CSV_COLUMN_COUNT', message: 'The row has a different number of columns than the header.'},
  CSV_QUOTE_NOT_CLOSED: {code: 'E_CSV_SYNTAX', message: 'A quoted field is never closed.'},
  CSV_INVALID_CLOSING_QUOTE: {code: 'E_CSV_SYNTAX', message: 'A quote closes a field in the middle of it.'},
  CSV_INVALID_OPENING_QUOTE: {code: 'E_CSV_SYNTAX', message: 'A quote opens inside an unquoted field.'},
  INVALID_OPENING_QUOTE: {code: 'E_CSV_SYNTAX', message: 'A quote opens inside an unquoted field.'},
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: {code: 'E_CSV_SYNTAX', message: 'Characters follow a closing quote.'},
}

/** A csv-parse error as a problem with our own words: its message may quote the row. */
export function csvProblem(error: unknown): LineProblem {
  const code = (error as {code?: string})?.code ?? ''
  return CSV_PROBLEMS[code] ?? {code: 'E_CSV_SYNTAX', message: `The row is not valid CSV${/^CSV_[A-Z_]+$/.test(code) ? ` (${code})` : ''}.`}
}

/**
 * The records of a CSV file, streaming. The file is first split into lines by the same reader as
 * NDJSON, so a line that is too long or not UTF-8 is rejected on its own (it reaches the parser as
 * an empty line, keeping the line numbers) and never costs the rows around it. A row with a syntax
 * error or a column count other than the header's is a problem at its line; parsing goes on.
 */
export async function* readCsvRecords(file: string, options: {maxLineBytes?: number} = {}): AsyncGenerator<CsvItem> {
  const pending: CsvItem[] = []
  const parser = parseCsv({
    bom: true,
    skip_empty_lines: true,
    trim: true,
    info: true,
    relax_column_count: false,
    skip_records_with_error: true,
    on_skip: (error: unknown) => {
      const line = (error as {lines?: number})?.lines
      pending.push({...(typeof line === 'number' ? {line} : {}), problem: csvProblem(error)})
    },
  })
  const feed = async (): Promise<void> => {
    for await (const item of fileLines(file, options)) {
      if (item.problem) pending.push({line: item.line, problem: item.problem})
      if (!parser.write(item.problem ? '\n' : `${item.text}\n`)) await once(parser, 'drain')
    }
    parser.end()
  }
  feed().catch((error: unknown) => parser.destroy(error as Error))
  try {
    for await (const {record, info} of parser as AsyncIterable<{record: string[]; info: {lines: number}}>) {
      yield* pending.splice(0)
      yield {line: info.lines, record}
    }
  } catch (error) {
    yield* pending.splice(0)
    yield {
      problem: (error as {code?: string})?.code?.startsWith('CSV_')
        ? csvProblem(error)
        : {code: 'E_READ_FAILED', message: 'The CSV could not be read.'},
    }
    return
  }
  yield* pending.splice(0)
}
