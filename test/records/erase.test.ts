import {spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {Decrypter} from 'age-encryption'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {Keystore} from '../../src/lib/config/keystore.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {TEST_PASSPHRASE, binRun, cliEnv, repoRoot, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'

function allFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) allFiles(path, out)
    else out.push(path)
  }
  return out
}

/** Every age identity reachable from the home: each profile's (unlocked), any in clear in a file, and any an age blob in the database opens (closure). */
async function identitiesInHome(home: string): Promise<string[]> {
  const paths = resolvePaths({env: {MEDCTL_HOME: home}})
  const keystore = new Keystore(paths)
  const ids = new Set<string>()
  for (const info of keystore.list()) ids.add((await keystore.unlock(info.name, TEST_PASSPHRASE)).ageIdentity)
  for (const file of allFiles(home))
    for (const m of readFileSync(file)
      .toString('latin1')
      .matchAll(/AGE-SECRET-KEY-1[0-9A-Z]{58}/g))
      ids.add(m[0])
  const blobs: Buffer[] = []
  const db = new Database(paths.database, {readonly: true})
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{name: string}>).map((t) => t.name)
    for (const t of tables) {
      for (const row of db.prepare(`SELECT * FROM "${t}"`).all() as Array<Record<string, unknown>>) {
        for (const v of Object.values(row))
          if (Buffer.isBuffer(v) && v.subarray(0, 21).toString('latin1') === 'age-encryption.org/v1') blobs.push(v)
      }
    }
  } finally {
    db.close()
  }
  let grew = true
  while (grew) {
    grew = false
    for (const blob of blobs) {
      for (const id of [...ids]) {
        try {
          const d = new Decrypter()
          d.addIdentity(id)
          const text = (await d.decrypt(blob, 'text')).trim()
          if (/^AGE-SECRET-KEY-1/.test(text) && !ids.has(text)) {
            ids.add(text)
            grew = true
          }
        } catch {
          // not for this identity
        }
      }
    }
  }
  return [...ids]
}

/** Tries the `age` command with every identity: the plaintext, or undefined when none opens it. */
function ageDecrypt(work: string, ciphertext: Buffer, identities: readonly string[]): string | undefined {
  const input = join(work, 'object.age')
  writeFileSync(input, ciphertext)
  for (const [i, id] of identities.entries()) {
    const idFile = join(work, `id-${i}.txt`)
    writeFileSync(idFile, `${id}\n`, {mode: 0o600})
    const r = spawnSync('age', ['-d', '-i', idFile, input], {encoding: 'buffer'})
    if (r.status === 0) return r.stdout.toString('utf8')
  }
  return undefined
}

describe('records erase: crypto-shredding through the CLI (embedded chain and store)', () => {
  let t: TestHome
  let work: string
  const saved: Array<{cid: string; ciphertext: Buffer}> = []
  beforeAll(async () => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-erase-'))
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
    expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
    expect(
      (
        await runJson([
          'consent',
          'grant',
          '--patient',
          P,
          '--grantee',
          'clinic',
          '--purpose',
          'TREAT',
          '--classes',
          'labs,vitals,demographics',
          '--until',
          '30d',
        ])
      ).exitCode,
    ).toBe(0)
    const shared = await runJson(['records', 'share', '--patient', P, '--to', 'clinic', '--purpose', 'TREAT'])
    expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
    const listed = await runJson<{patients: Array<{objects: Array<{cid: string}>}>}>(['records', 'list', '--patient', P])
    for (const {cid} of listed.envelope.result.patients[0]?.objects ?? []) {
      const cat = spawnSync(process.execPath, [binRun, 'store', 'cat', cid], {
        cwd: repoRoot,
        env: cliEnv(t.env),
        encoding: 'buffer',
      })
      expect(cat.status).toBe(0)
      saved.push({cid, ciphertext: cat.stdout})
    }
    expect(saved.length).toBeGreaterThan(0)
  }, 180_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(work, {recursive: true, force: true})
  })

  it('before: the home can open a stored copy (the test could fail)', async () => {
    const ids = await identitiesInHome(t.home)
    const opened = ageDecrypt(work, saved[0]?.ciphertext as Buffer, ids)
    expect(opened).toContain('"resourceType"')
  })

  it('erase --yes revokes all, destroys every key envelope and block, lists who holds a copy, audited', async () => {
    const noYes = await runJson(['records', 'erase', '--patient', P])
    expect(noYes.exitCode).toBe(2)
    const r = await runJson<{
      subject: string
      objects: number
      envelopes: number
      blocks: number
      revokeAll: {txHash?: string}
      copiesHeldBy: Array<{grantee: string}>
    }>(['records', 'erase', '--patient', P, '--yes'])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    expect(r.envelope.result.objects).toBe(saved.length)
    expect(r.envelope.result.envelopes).toBeGreaterThanOrEqual(saved.length)
    expect(r.envelope.result.blocks).toBeGreaterThanOrEqual(saved.length)
    expect(r.envelope.result.revokeAll.txHash).toMatch(/^0x[0-9a-f]{64}$/)
    expect(r.envelope.result.copiesHeldBy.length).toBe(1)
    const audit = await runJson<{entries: Array<{type: string; subject?: string; detail?: {kind?: string; phase?: string}}>}>([
      'audit',
      'show',
    ])
    const erase = audit.envelope.result.entries.filter((e) => e.detail?.kind === 'erase' && e.subject === r.envelope.result.subject)
    expect(erase.map((e) => e.detail?.phase)).toEqual(['intent', 'written'])
    expect(
      audit.envelope.result.entries.some(
        (e) => e.type === 'revoke' && e.subject === r.envelope.result.subject && (e.detail as {all?: boolean} | undefined)?.all,
      ),
    ).toBe(true)
    expect((await runJson(['audit', 'verify'])).exitCode).toBe(0)
  })

  it('after: no key or identity left in the home opens a stored copy, and no object bytes remain in the database file', async () => {
    const ids = await identitiesInHome(t.home)
    expect(ids.length).toBeGreaterThanOrEqual(2)
    for (const {ciphertext} of saved) expect(ageDecrypt(work, ciphertext, ids)).toBeUndefined()
    for (const {cid} of saved) {
      const cat = spawnSync(process.execPath, [binRun, 'store', 'cat', cid], {
        cwd: repoRoot,
        env: cliEnv(t.env),
        encoding: 'buffer',
      })
      expect(cat.status).not.toBe(0)
    }
    const db = readFileSync(resolvePaths({env: {MEDCTL_HOME: t.home}}).database)
    for (const {ciphertext} of saved) expect(db.includes(ciphertext.subarray(ciphertext.length - 64))).toBe(false)
  })

  it('every later command about the patient fails with E_ERASED (exit 2)', async () => {
    for (const args of [
      ['records', 'show', '--patient', P, '--out', join(work, 'x.json')],
      ['records', 'share', '--patient', P, '--to', 'clinic', '--purpose', 'TREAT'],
      ['consent', 'grant', '--patient', P, '--grantee', 'clinic', '--purpose', 'TREAT', '--classes', 'labs', '--until', '1d'],
      ['records', 'erase', '--patient', P, '--yes'],
    ]) {
      const r = await runJson(args)
      expect(r.exitCode, args.join(' ')).toBe(2)
      expect(r.envelope.error.code, args.join(' ')).toBe('E_ERASED')
    }
  })

  it('re-importing an old copy of the records never brings the erased patient back', async () => {
    const again = await runJson<{rejected: number; imported: number}>([
      'records',
      'import',
      join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'),
      '--no-anchor',
      '--report',
      join(work, 'reimport.ndjson'),
    ])
    expect(again.exitCode).toBe(3)
    expect(readFileSync(join(work, 'reimport.ndjson'), 'utf8')).toContain('E_ERASED')
    const shown = await runJson(['records', 'show', '--patient', P, '--out', join(work, 'y.json')])
    expect(shown.envelope.error.code).toBe('E_ERASED')
  })
})
