import Database from 'better-sqlite3'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {toErrorEnvelope} from '../../src/lib/cli/base-command.js'
import {MedctlError} from '../../src/lib/core/errors.js'
import {isSafeName, resolveInside, safeChildPath} from '../../src/lib/config/paths.js'
import {parseEnvelope, runBin, runJson, useTempHome} from '../helpers/cli.js'

/** Issue 18 #12: E_UNEXPECTED where a stable code belongs. */
describe('flag values out of range are usage errors, not E_UNEXPECTED', () => {
  it('consent import --batch 1000: E_INVALID_FLAGS (exit 2) naming the limit, not echoing the value', () => {
    const t = useTempHome()
    try {
      const r = runBin(['consent', 'import', 'consents.csv', '--batch', '1000', '--json'], {env: t.env})
      expect(r.status).toBe(2)
      const {error} = parseEnvelope(r.stdout)
      expect(error.code).toBe('E_INVALID_FLAGS')
      expect(error.exitCode).toBe(2)
      expect(error.message).toContain('--batch')
      expect(error.message).toContain('500')
      expect(error.message).not.toContain('1000')
      const human = runBin(['consent', 'import', 'consents.csv', '--batch', 'many'], {env: t.env})
      expect(human.status).toBe(2)
      expect(human.stderr).toContain('Error [E_INVALID_FLAGS]: Invalid value for --batch: expected an integer')
      expect(human.stderr).not.toContain('many')
    } finally {
      rmSync(t.home, {recursive: true, force: true})
    }
  })

  it("a custom flag's own code survives oclif's wrapping (records show --classes bogus -> E_BAD_CLASS, clean message)", async () => {
    const t = useTempHome()
    try {
      const r = await runJson(['records', 'show', '--patient', 'x|y', '--classes', 'bogus'])
      expect(r.exitCode).toBe(2)
      expect(r.envelope.error.code).toBe('E_BAD_CLASS')
      expect(r.envelope.error.message).toMatch(/^Unknown data class/)
    } finally {
      rmSync(t.home, {recursive: true, force: true})
    }
  })
})

describe('system and SQLite errors map to stable codes', () => {
  const envelope = (error: unknown) => toErrorEnvelope(error).error

  it('a real SQLITE_NOTADB / SQLITE_CORRUPT from better-sqlite3 is E_CORRUPT_DATABASE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medctl-sqlite-'))
    try {
      const file = join(dir, 'x.db')
      writeFileSync(file, 'not a database at all, just some text to fill a page'.repeat(100))
      let caught: unknown
      try {
        new Database(file).pragma('journal_mode = WAL')
      } catch (error) {
        caught = error
      }
      expect((caught as {code?: string}).code).toBe('SQLITE_NOTADB')
      expect(envelope(caught)).toMatchObject({code: 'E_CORRUPT_DATABASE', exitCode: 1})
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
    expect(envelope(Object.assign(new Error('database disk image is malformed'), {code: 'SQLITE_CORRUPT'})).code).toBe('E_CORRUPT_DATABASE')
    expect(envelope(Object.assign(new Error('malformed index'), {code: 'SQLITE_CORRUPT_INDEX'})).code).toBe('E_CORRUPT_DATABASE')
  })

  it('SQLITE_FULL, ENOSPC and EDQUOT are E_DISK_FULL; an unknown error stays E_UNEXPECTED', () => {
    for (const code of ['SQLITE_FULL', 'ENOSPC', 'EDQUOT'])
      expect(envelope(Object.assign(new Error('full'), {code}))).toMatchObject({code: 'E_DISK_FULL', exitCode: 1})
    expect(envelope(new Error('something else')).code).toBe('E_UNEXPECTED')
    expect(envelope(new MedctlError('E_X', 'x', {exitCode: 4})).exitCode).toBe(4)
  })
})

describe('names from input never become paths unchecked', () => {
  const dir = '/home/u/.config/medctl/keys'

  it('safeChildPath accepts safe names and returns the direct child', () => {
    expect(safeChildPath(dir, 'local', {what: 'identity'})).toBe(`${dir}/local`)
    expect(safeChildPath(dir, 'lab-2_b', {what: 'identity'})).toBe(`${dir}/lab-2_b`)
    expect(isSafeName('a'.repeat(64))).toBe(true)
  })

  it('safeChildPath refuses every escape with the given code and exit 2', () => {
    for (const name of [
      '..',
      '.',
      '../x',
      '../../../pwned-keys',
      '/etc',
      'a/b',
      'a\\b',
      '.hidden',
      'A',
      'a b',
      '',
      'a'.repeat(65),
      'x\u0000y',
      5,
      null,
      undefined,
    ]) {
      expect(() => safeChildPath(dir, name, {what: 'identity', code: 'E_BAD_KEY_NAME'}), String(name)).toThrow(
        expect.objectContaining({code: 'E_BAD_KEY_NAME', exitCode: 2}),
      )
    }
  })

  it('resolveInside allows file names and subfolders but nothing outside the directory', () => {
    expect(resolveInside('/out', 'patients.csv', {what: 'file'})).toBe('/out/patients.csv')
    expect(resolveInside('/out', 'a/b.ndjson', {what: 'file'})).toBe('/out/a/b.ndjson')
    expect(resolveInside('/out', 'a/../b.csv', {what: 'file'})).toBe('/out/b.csv')
    for (const path of ['../x', 'a/../../x', '/etc/passwd', '.', '', 'a\u0000', '..']) {
      expect(() => resolveInside('/out', path, {what: 'file'}), path).toThrow(expect.objectContaining({code: 'E_BAD_NAME'}))
    }
  })
})
