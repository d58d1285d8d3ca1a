import {describe, expect, it} from 'vitest'
import {formatProgress, renderTable} from '../../src/lib/cli/output.js'

describe('progress lines people read', () => {
  it('a known total: bar, done/total with thousands separators, rate and time left', () => {
    expect(formatProgress({phase: 'granting', done: 1500, total: 6000, unit: 'consents'}, 3000)).toBe(
      'granting [#####...............] 1,500/6,000 consents, 500 consents/s, 9s left',
    )
  })

  it('an unknown total (a stream): count and rate, no bar, no time left', () => {
    expect(formatProgress({phase: 'importing', done: 18000, unit: 'resources'}, 4000)).toBe('importing 18,000 resources, 4,500 resources/s')
  })

  it('no rate before a second has passed; a phase with no count shows alone (never "identity 0")', () => {
    expect(formatProgress({phase: 'uploading', done: 3, total: 10, unit: 'objects'}, 200)).toBe(
      'uploading [######..............] 3/10 objects',
    )
    expect(formatProgress({phase: 'generating the identity', done: 0}, 50)).toBe('generating the identity')
  })

  it('long jobs say minutes and hours', () => {
    expect(formatProgress({done: 10, total: 100000, unit: 'rows'}, 10_000)).toBe(
      '[....................] 10/100,000 rows, 1.0 rows/s, 27h46m left',
    )
  })
})

describe('tables people read', () => {
  it('piped: plain TSV, one header line and one line per row, no box drawing', () => {
    expect(
      renderTable(
        ['consent', 'purpose'],
        [
          ['0xab', 'TREAT'],
          ['0xcd', 'multi\nline'],
        ],
        {tty: false},
      ),
    ).toBe('consent\tpurpose\n0xab\tTREAT\n0xcd\tmulti line')
  })

  it('on a terminal: fitted to its width (long cells wrap)', () => {
    const long = 'x'.repeat(200)
    const out = renderTable(['id', 'value'], [['1', long]], {tty: true, columns: 60})
    for (const line of out.split('\n')) expect(line.replace(/\u001B\[[0-9;]*m/g, '').length).toBeLessThanOrEqual(60)
    expect(out.replace(/[^x]/g, '')).toHaveLength(200)
  })
})
