import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import Database from 'better-sqlite3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {generate} from '../../bench/import/generate.js'
import {MedctlError} from '../../src/lib/core/errors.js'
import {loadDefinitions} from '../../src/lib/fhir/index.js'
import {initHome, runBin, spawnBin, useTempHome, type TestHome} from '../helpers/cli.js'
import {freshVault, neighbours} from './vault-helper.js'

describe('import audit is write-ahead: no committed record without its import entry', () => {
  beforeAll(() => loadDefinitions())

  it('an audit append that fails stops the import before anything is committed; the job ends failed, never running', async () => {
    const vault = await freshVault()
    const input = join(vault.dir, 'in.ndjson')
    writeFileSync(input, `${neighbours('wa').lines.join('\n')}\n`)
    try {
      const error = await vault
        .import([input], {
          audit: async () => {
            throw new SyntaxError('Unexpected token in JSON (a corrupt state.json)')
          },
        })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MedctlError)
      expect((error as MedctlError).code).toBe('E_AUDIT_WRITE')
      expect((vault.db.prepare('SELECT COUNT(*) AS n FROM objects').get() as {n: number}).n).toBe(0)
      expect((vault.db.prepare('SELECT COUNT(*) AS n FROM ledger').get() as {n: number}).n).toBe(0)
      expect(vault.jobs().map((j) => j.status)).toEqual(['failed'])
    } finally {
      vault.cleanup()
    }
  })

  it('a job killed while running is marked interrupted when the next import starts', async () => {
    const vault = await freshVault()
    const input = join(vault.dir, 'in.ndjson')
    writeFileSync(input, `${neighbours('int').lines.join('\n')}\n`)
    try {
      vault.db
        .prepare("INSERT INTO jobs (custodian, kind, status, started_at) VALUES (?, 'import', 'running', ?)")
        .run(vault.custodian.address.toLowerCase(), new Date().toISOString())
      await vault.import([input])
      expect(vault.jobs().map((j) => j.status)).toEqual(['interrupted', 'done'])
    } finally {
      vault.cleanup()
    }
  })

  it('every intent entry precedes its commit and names the CIDs; the outcome entry closes the job', async () => {
    const vault = await freshVault()
    const input = join(vault.dir, 'in.ndjson')
    writeFileSync(input, `${[...neighbours('a1').lines, ...neighbours('a2').lines].join('\n')}\n`)
    const seen: number[] = []
    try {
      await vault.import([input], {
        audit: async (event) => {
          vault.audit.push(event)
          // At the time of the intent, none of its objects is committed yet.
          const committed = (vault.db.prepare('SELECT COUNT(*) AS n FROM objects').get() as {n: number}).n
          seen.push(committed)
          if (event.detail.phase === 'intent')
            for (const cid of event.cids ?? []) expect(vault.db.prepare('SELECT 1 FROM objects WHERE cid = ?').get(cid)).toBeUndefined()
        },
      })
      const phases = vault.audit.map((e) => e.detail.phase)
      expect(phases.at(-1)).toBe('finished')
      expect(phases.filter((p) => p === 'intent').length).toBeGreaterThan(0)
      const cids = new Set(vault.audit.flatMap((e) => e.cids ?? []))
      for (const {cid} of vault.db.prepare('SELECT cid FROM objects').all() as Array<{cid: string}>) expect(cids.has(cid)).toBe(true)
      expect(seen[0]).toBe(0)
    } finally {
      vault.cleanup()
    }
  })
})

/** CIDs named by import entries of the home's audit log (intent and outcome). */
function auditedCids(home: string): Set<string> {
  const dir = join(home, 'data', 'audit')
  const cids = new Set<string>()
  if (!existsSync(dir)) return cids
  for (const file of readdirSync(dir).filter((f) => /^log-\d+\.ndjson$/.test(f))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (!line.trim()) continue
      try {
        const entry = JSON.parse(line) as {type?: string; cids?: string[]}
        if (entry.type === 'import') for (const cid of entry.cids ?? []) cids.add(cid)
      } catch {
        // A torn last line (the kill) names nothing.
      }
    }
  }
  return cids
}

function committedCids(database: string): string[] {
  try {
    const db = new Database(database, {readonly: true, fileMustExist: true})
    try {
      return (db.prepare('SELECT cid FROM objects').all() as Array<{cid: string}>).map((r) => r.cid)
    } finally {
      db.close()
    }
  } catch {
    return []
  }
}

describe('kill -9 during records import (subprocess): every committed object has its import audit entry', () => {
  let input: string
  let t: TestHome
  beforeAll(async () => {
    input = mkdtempSync(join(tmpdir(), 'medctl-kill-audit-'))
    await generate({patients: 120, perPatient: 30, out: input, seed: 11})
    t = useTempHome()
    await initHome(t)
  }, 120_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(input, {recursive: true, force: true})
  })

  it('3 kills at different points, then a clean rerun: no committed CID without an import entry, ever', async () => {
    const database = join(t.home, 'data', 'medctl.db')
    let kills = 0
    for (const [trial, afterObjects] of [1, 4, 9].entries()) {
      const before = committedCids(database).length
      const child = spawnBin(['records', 'import', input, '--buffer-mb', '1', '--no-anchor', '--json'], t.env)
      let exited = false
      child.on('exit', () => {
        exited = true
      })
      const deadline = Date.now() + 90_000
      while (!exited && committedCids(database).length < before + afterObjects) {
        if (Date.now() > deadline) throw new Error(`trial ${trial}: the import never committed`)
        await new Promise((r) => setTimeout(r, 20))
      }
      if (!exited) {
        child.kill('SIGKILL')
        kills++
      }
      await new Promise((r) => (exited ? r(undefined) : child.once('exit', r)))
      const audited = auditedCids(t.home)
      const missing = committedCids(database).filter((cid) => !audited.has(cid))
      expect(missing, `trial ${trial}`).toEqual([])
    }
    expect(kills).toBeGreaterThan(0)
    const rerun = runBin(['records', 'import', input, '--no-anchor', '--json'], {env: t.env})
    expect(rerun.status, rerun.stderr).toBe(0)
    const audited = auditedCids(t.home)
    expect(committedCids(database).filter((cid) => !audited.has(cid))).toEqual([])
    const db = new Database(database, {readonly: true})
    try {
      const statuses = (db.prepare("SELECT status FROM jobs WHERE kind = 'import' ORDER BY id").all() as Array<{status: string}>).map(
        (r) => r.status,
      )
      expect(statuses).not.toContain('running')
      expect(statuses.at(-1)).toBe('done')
    } finally {
      db.close()
    }
    // The killed jobs left intents no outcome followed: verify says so (the log itself is intact).
    const verified = runBin(['audit', 'verify', '--offline', '--json'], {env: t.env})
    const report = JSON.parse(verified.stdout) as {result?: {openIntents: Array<{type: string; job?: number}>}; error?: unknown}
    expect(report.result?.openIntents.length ?? 0, verified.stdout).toBeGreaterThanOrEqual(kills)
    expect(report.result?.openIntents.every((i) => i.type === 'import')).toBe(true)
  }, 300_000)
})
