import {execFileSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {EmbeddedStore} from '../../src/lib/ipfs/index.js'
import {openDatabase} from '../../src/lib/db/database.js'
import {cliEnv, parseEnvelope, repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const samples = join(repoRoot, 'data', 'samples', 'synthea-r4')

interface ImportResult {
  read: number
  imported: number
  duplicates: number
  rejected: number
  patients: number
  objects: number
  report: string | null
}

interface ListResult {
  patients: Array<{
    subject: string
    identifier?: string
    resources: number
    classes: string[]
    objects: Array<{cid: string; class: string; resources: number}>
  }>
}

/** Every file under a directory, recursively. */
function walk(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  )
}

/** Names and identifiers of the sample patients, collected from the raw input. */
function sampleSecrets(): string[] {
  const secrets = new Set<string>()
  for (const file of readdirSync(samples).filter((f) => f.endsWith('.json'))) {
    const bundle = JSON.parse(readFileSync(join(samples, file), 'utf8')) as {entry: Array<{resource: Record<string, unknown>}>}
    for (const {resource} of bundle.entry) {
      if (resource.resourceType !== 'Patient') continue
      const names = (resource.name as Array<{family?: string; given?: string[]}>) ?? []
      for (const name of names) {
        if (name.family) secrets.add(name.family)
        for (const given of name.given ?? []) secrets.add(given)
      }
      for (const identifier of (resource.identifier as Array<{value?: string}>) ?? []) if (identifier.value) secrets.add(identifier.value)
      for (const address of (resource.address as Array<{line?: string[]}>) ?? []) for (const line of address.line ?? []) secrets.add(line)
    }
  }
  return [...secrets].filter((s) => s.length >= 5)
}

function countEntries(): number {
  return readdirSync(samples)
    .filter((f) => f.endsWith('.json'))
    .reduce((sum, file) => sum + (JSON.parse(readFileSync(join(samples, file), 'utf8')) as {entry: unknown[]}).entry.length, 0)
}

describe('records import on the Synthea samples (CLI, real SQLite, embedded IPFS, age)', () => {
  let t: TestHome
  let first: ImportResult
  beforeAll(async () => {
    t = useTempHome()
    await initHome(t)
    const run = await runJson<ImportResult>(['records', 'import', samples])
    expect(run.exitCode, JSON.stringify(run.envelope)).toBe(0)
    first = run.envelope.result
  }, 300_000)
  afterAll(async () => t.cleanup())

  it('accounts for every bundle entry: read = imported + duplicates + rejected', () => {
    expect(first.read).toBe(countEntries())
    expect(first.rejected).toBe(0)
    expect(first.read).toBe(first.imported + first.duplicates + first.rejected)
    expect(first.patients).toBe(6)
    expect(first.objects).toBeGreaterThanOrEqual(6)
  })

  it('a second import adds nothing and counts duplicates', async () => {
    const again = await runJson<ImportResult>(['records', 'import', samples])
    expect(again.exitCode).toBe(0)
    expect(again.envelope.result).toMatchObject({read: first.read, imported: 0, duplicates: first.read, rejected: 0, objects: 0})
  })

  it('lists patients by pseudonym only, identifiers on request', async () => {
    const listed = (await runJson<ListResult>(['records', 'list'])).envelope
    expect(listed.result.patients).toHaveLength(6)
    for (const p of listed.result.patients) {
      expect(p.subject).toMatch(/^0x[0-9a-f]{64}$/)
      expect(p.identifier).toBeUndefined()
      expect(p.classes).toContain('demographics')
    }
    expect(JSON.stringify(listed)).not.toContain('d88f994a-5efa-421d-9c40-5f116d2114a6')
    const shown = (await runJson<ListResult>(['records', 'list', '--show-identifiers'])).envelope.result
    expect(shown.patients.map((p) => p.identifier)).toContain('http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6')
  })

  it('no name or identifier from the input can be found anywhere under the home', () => {
    const secrets = sampleSecrets()
    expect(secrets.length).toBeGreaterThan(20)
    for (const file of walk(t.home)) {
      if (statSync(file).size === 0) continue
      const bytes = readFileSync(file)
      for (const secret of secrets) expect(bytes.includes(Buffer.from(secret)), `${secret} in ${file}`).toBe(false)
    }
  })

  it('every stored object is an age file, decryptable with the standard age CLI using the keys medctl holds', async () => {
    const listed = (
      await runJson<ListResult>(['records', 'list', '--patient', 'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6'])
    ).envelope.result
    const object = listed.patients[0]?.objects.find((o) => o.class === 'demographics')
    expect(object).toBeDefined()
    const all = (await runJson<ListResult>(['records', 'list'])).envelope.result.patients.flatMap((p) => p.objects)
    const store = new EmbeddedStore(openDatabase(resolvePaths({env: t.env})))
    for (const o of all) {
      const first = (await store.cat(o.cid)[Symbol.asyncIterator]().next()).value as Uint8Array
      expect(Buffer.from(first.subarray(0, 22)).toString('latin1'), o.cid).toBe('age-encryption.org/v1\n')
    }
    // The object key: unwrap the custodian envelope with the custodian's age identity, via age itself.
    const work = mkdtempSync(join(tmpdir(), 'medctl-age-'))
    const exported = parseEnvelope<{ageIdentity: string}>(runBin(['keys', 'export', '--yes', '--json'], {env: t.env}).stdout).result
    writeFileSync(join(work, 'custodian.key'), `${exported.ageIdentity}\n`, {mode: 0o600})
    const key = runBin(['records', 'key', '--cid', object!.cid, '--json'], {env: t.env})
    expect(key.status, key.stdout + key.stderr).toBe(0)
    writeFileSync(join(work, 'envelope.age'), Buffer.from(parseEnvelope<{envelope: string}>(key.stdout).result.envelope, 'base64'))
    const objectKey = execFileSync('age', ['-d', '-i', join(work, 'custodian.key'), join(work, 'envelope.age')])
      .toString('utf8')
      .trim()
    expect(objectKey).toMatch(/^AGE-SECRET-KEY-1/)
    writeFileSync(join(work, 'object.key'), `${objectKey}\n`, {mode: 0o600})
    const ciphertext = execFileSync(process.execPath, [join(repoRoot, 'bin', 'run.js'), 'store', 'cat', object!.cid], {
      env: cliEnv(t.env),
    })
    writeFileSync(join(work, 'object.age'), ciphertext)
    const plaintext = execFileSync('age', ['-d', '-i', join(work, 'object.key'), join(work, 'object.age')]).toString('utf8')
    const patient = JSON.parse(plaintext.split('\n')[0] as string) as {resourceType: string; id: string}
    expect(patient).toMatchObject({resourceType: 'Patient', id: 'd88f994a-5efa-421d-9c40-5f116d2114a6'})
  })

  it('records show decrypts a patient to a FHIR Bundle of the chosen classes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'medctl-show-')), 'patient.json')
    const shown = await runJson<{resources: number; classes: string[]}>([
      'records',
      'show',
      '--patient',
      'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6',
      '--classes',
      'demographics,conditions',
      '--out',
      out,
    ])
    expect(shown.exitCode).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {resourceType: string; entry: Array<{resource: {resourceType: string}}>}
    expect(bundle.resourceType).toBe('Bundle')
    const types = new Set(bundle.entry.map((e) => e.resource.resourceType))
    expect([...types].sort()).toEqual(['Condition', 'Patient'])
    expect(shown.envelope.result.resources).toBe(bundle.entry.length)

    // --out - is stdout, as everywhere: the Bundle on stdout, the summary on stderr, no file named "-".
    const piped = runBin(
      [
        'records',
        'show',
        '--patient',
        'http://hospital.smarthealthit.org|d88f994a-5efa-421d-9c40-5f116d2114a6',
        '--classes',
        'demographics',
        '--out',
        '-',
      ],
      {env: t.env},
    )
    expect(piped.status).toBe(0)
    expect((JSON.parse(piped.stdout) as {resourceType: string}).resourceType).toBe('Bundle')
    expect(piped.stderr).toContain('to stdout')
    expect(readdirSync(repoRoot)).not.toContain('-')
    expect(runBin(['records', 'show', '--patient', 'x|y', '--out', '-', '--json'], {env: t.env}).status).toBe(2)
  })

  it('store verify finds the store intact, then names a corrupt and a missing block with exit 4', async () => {
    const verified = await runJson<{ok: boolean; checked: number}>(['store', 'verify'])
    expect(verified.exitCode).toBe(0)
    expect(verified.envelope.result.ok).toBe(true)
    expect(verified.envelope.result.checked).toBeGreaterThan(0)
    const db = openDatabase(resolvePaths({env: t.env}))
    const [a, b] = (db.prepare('SELECT cid FROM objects ORDER BY cid LIMIT 2').all() as Array<{cid: string}>).map((r) => r.cid)
    db.prepare('UPDATE blocks SET bytes = ? WHERE cid = ?').run(Buffer.from('flipped'), a)
    db.prepare('DELETE FROM blocks WHERE cid = ?').run(b)
    const broken = await runJson<{ok: boolean; corrupt: string[]; missing: string[]}>(['store', 'verify'])
    expect(broken.exitCode).toBe(4)
    expect(broken.envelope.result).toMatchObject({ok: false, corrupt: [a], missing: [b]})
  })
})
