import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {repoRoot, runJson, spawnBin, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'

describe('records attach killed mid-stream (kill -9) resumes to one attachment', () => {
  let t: TestHome
  let work: string
  beforeAll(async () => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-attach-kill-'))
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
  }, 180_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(work, {recursive: true, force: true})
  })

  it('the rerun attaches the file once; the log verifies; the killed run linked nothing', async () => {
    const file = join(work, 'study.dcm')
    writeFileSync(file, randomBytes(96 * 1024 * 1024))
    const database = resolvePaths({env: t.env}).database
    const size = () => statSync(database).size + (statSync(`${database}-wal`, {throwIfNoEntry: false})?.size ?? 0)
    const start = size()
    const child = spawnBin(['records', 'attach', file, '--patient', P, '--class', 'imaging', '--no-anchor', '--json'], t.env)
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    // Kill it once its blocks are being written (more than 8 MiB of them), well before it ends.
    const deadline = Date.now() + 120_000
    while (size() - start < 8 * 1024 * 1024 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20))
    expect(child.exitCode).toBeNull()
    child.kill('SIGKILL')
    await exited
    const listed = await runJson<{patients: Array<{classes: string[]}>}>(['records', 'list', '--patient', P])
    expect(listed.envelope.result.patients[0]?.classes).not.toContain('imaging')
    const again = await runJson<{created: boolean; documentReference: string}>([
      'records',
      'attach',
      file,
      '--patient',
      P,
      '--class',
      'imaging',
      '--no-anchor',
    ])
    expect(again.exitCode, JSON.stringify(again.envelope)).toBe(0)
    expect(again.envelope.result.created).toBe(true)
    const third = await runJson<{created: boolean; documentReference: string}>([
      'records',
      'attach',
      file,
      '--patient',
      P,
      '--class',
      'imaging',
      '--no-anchor',
    ])
    expect(third.envelope.result).toMatchObject({created: false, documentReference: again.envelope.result.documentReference})
    const shown = await runJson<{resources: number}>([
      'records',
      'show',
      '--patient',
      P,
      '--classes',
      'imaging',
      '--out',
      join(work, 'imaging.json'),
    ])
    expect(shown.envelope.result.resources).toBe(1)
    expect((await runJson(['audit', 'verify', '--offline'])).exitCode).toBe(0)
  }, 240_000)
})
