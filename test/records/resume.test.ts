import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {generate} from '../../bench/import/generate.js'
import {initHome, parseEnvelope, runBin, spawnBin, useTempHome, type TestHome} from '../helpers/cli.js'

interface ImportResult {
  read: number
  imported: number
  duplicates: number
  rejected: number
}

interface Listing {
  patients: Array<{identifier: string; resources: number; classes: string[]}>
}

function state(env: NodeJS.ProcessEnv): Map<string, string> {
  const listed = parseEnvelope<Listing>(runBin(['records', 'list', '--show-identifiers', '--json'], {env}).stdout).result
  return new Map(listed.patients.map((p) => [p.identifier, `${p.resources}:${p.classes.join(',')}`]))
}

async function objectsIn(database: string): Promise<number> {
  try {
    const db = new Database(database, {readonly: true, fileMustExist: true})
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM objects').get() as {n: number}).n
    } finally {
      db.close()
    }
  } catch {
    return 0
  }
}

describe('records import survives kill -9 and resumes to the same final state', () => {
  let interrupted: TestHome
  let reference: TestHome
  let input: string
  let total: number
  beforeAll(async () => {
    input = mkdtempSync(join(tmpdir(), 'medctl-resume-'))
    total = (await generate({patients: 150, perPatient: 40, out: input, seed: 7})).resources
    reference = useTempHome()
    interrupted = useTempHome()
    for (const home of [reference, interrupted]) await initHome(home)
  }, 120_000)
  afterAll(async () => {
    await reference.cleanup()
    await interrupted.cleanup()
  })

  it('kill -9 mid-import, run again: every line accounted for, no duplicates, same records as an uninterrupted run', async () => {
    const child = spawnBin(['records', 'import', input, '--buffer-mb', '1', '--json'], interrupted.env)
    const database = join(interrupted.home, 'data', 'medctl.db')
    const deadline = Date.now() + 60_000
    let exited = false
    child.on('exit', () => {
      exited = true
    })
    while (!exited && (await objectsIn(database)) < 3) {
      if (Date.now() > deadline) throw new Error('the import never committed an object')
      await new Promise((r) => setTimeout(r, 25))
    }
    expect(exited, 'the import finished before it could be killed; make the input larger').toBe(false)
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const partial = await objectsIn(database)
    expect(partial).toBeGreaterThan(0)

    const resumed = runBin(['records', 'import', input, '--json'], {env: interrupted.env})
    expect(resumed.status, resumed.stderr).toBe(0)
    const second = parseEnvelope<ImportResult>(resumed.stdout).result
    expect(second.read).toBe(total)
    expect(second.rejected).toBe(0)
    expect(second.duplicates).toBeGreaterThan(0)
    expect(second.imported).toBeLessThan(total)
    expect(second.read).toBe(second.imported + second.duplicates + second.rejected)

    const clean = parseEnvelope<ImportResult>(runBin(['records', 'import', input, '--json'], {env: reference.env}).stdout).result
    expect(clean).toMatchObject({read: total, imported: total, duplicates: 0, rejected: 0})
    expect(state(interrupted.env)).toEqual(state(reference.env))
    expect([...state(interrupted.env).values()].reduce((sum, v) => sum + Number(v.split(':')[0]), 0)).toBe(total)

    const third = parseEnvelope<ImportResult>(runBin(['records', 'import', input, '--json'], {env: interrupted.env}).stdout).result
    expect(third).toMatchObject({read: total, imported: 0, duplicates: total})
  }, 300_000)
})
