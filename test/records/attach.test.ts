import {spawnSync} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Decrypter} from 'age-encryption'
import Database from 'better-sqlite3'
import {CID} from 'multiformats/cid'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {validateFhir} from '../../src/lib/fhir/validate.js'
import type {FhirResource} from '../../src/lib/fhir/index.js'
import {readAll, readUnixfs} from '../../src/lib/ipfs/index.js'
import {ATTACHMENT_EXTENSION} from '../../src/lib/vault/attach.js'
import {KuboMock} from '../helpers/kubo-mock.js'
import {binRun, cliEnv, parseEnvelope, repoRoot, runBin, runJson, useTempHome, initHome, type TestHome} from '../helpers/cli.js'

const P = 'http://hospital.example/mrn|MRN-0001'
/** A few MiB and an odd tail: many age chunks (64 KiB) and many UnixFS blocks (256 KiB). */
const SIZE = 3 * 1024 * 1024 + 12_345
const DAG_PB = 0x70

interface AttachResult {
  subject: string
  class: string
  documentReference: string
  cid: string
  recordCid: string
  sha256: string
  size: number
  contentType: string
  created: boolean
}

interface FetchResult {
  classes: string[]
  attachments: Array<{documentReference: string; file: string; bytes: number; sha256: string; contentType: string}>
}

function storeCat(t: TestHome, cid: string): {status: number | null; stdout: Buffer} {
  const r = spawnSync(process.execPath, [binRun, 'store', 'cat', cid], {
    cwd: repoRoot,
    env: cliEnv(t.env),
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  })
  return {status: r.status, stdout: r.stdout}
}

/** The `age` command, with each identity in turn: the plaintext, or undefined when none opens it. */
function ageOpen(work: string, ciphertext: Buffer, identities: readonly string[]): Buffer | undefined {
  const input = join(work, `in-${randomBytes(4).toString('hex')}.age`)
  writeFileSync(input, ciphertext)
  for (const [i, id] of identities.entries()) {
    const idFile = join(work, `id-${i}.txt`)
    writeFileSync(idFile, `${id}\n`, {mode: 0o600})
    const r = spawnSync('age', ['-d', '-i', idFile, input], {encoding: 'buffer', maxBuffer: 64 * 1024 * 1024})
    if (r.status === 0) return r.stdout
  }
  return undefined
}

/** The custodian's identity and every object key an age blob in the database opens with it (closure). */
async function keysReachableFrom(database: string, identity: string): Promise<string[]> {
  const blobs: Buffer[] = []
  const db = new Database(database, {readonly: true})
  try {
    for (const {name} of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{name: string}>) {
      for (const row of db.prepare(`SELECT * FROM "${name}"`).all() as Array<Record<string, unknown>>) {
        for (const v of Object.values(row))
          if (Buffer.isBuffer(v) && v.subarray(0, 21).toString('latin1') === 'age-encryption.org/v1') blobs.push(v)
      }
    }
  } finally {
    db.close()
  }
  const ids = new Set([identity])
  for (let grew = true; grew;) {
    grew = false
    for (const blob of blobs) {
      for (const id of [...ids]) {
        try {
          const d = new Decrypter()
          d.addIdentity(id)
          const text = (await d.decrypt(blob, 'text')).trim()
          if (/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(text) && !ids.has(text)) {
            ids.add(text)
            grew = true
          }
        } catch {
          // not for this identity, or not a key
        }
      }
    }
  }
  return [...ids]
}

describe('records attach: a large file streamed through age into the store, linked by a DocumentReference (CLI, embedded chain and store)', () => {
  let t: TestHome
  let work: string
  let file: string
  let content: Buffer
  let attached: AttachResult
  let ciphertext: Buffer
  let custodianIdentity: string
  beforeAll(async () => {
    t = useTempHome()
    work = mkdtempSync(join(tmpdir(), 'medctl-attach-'))
    content = randomBytes(SIZE)
    // A name that must never reach the audit log or the index.
    file = join(work, 'quixote-brain-mri.zip')
    writeFileSync(file, content)
    await initHome(t)
    expect(
      (await runJson(['records', 'import', join(repoRoot, 'test', 'fixtures', 'records', 'bulk.ndjson.gz'), '--no-anchor'])).exitCode,
    ).toBe(0)
    custodianIdentity = parseEnvelope<{ageIdentity: string}>(runBin(['keys', 'export', '--yes', '--json'], {env: t.env}).stdout).result
      .ageIdentity
  }, 180_000)
  afterAll(async () => {
    await t.cleanup()
    rmSync(work, {recursive: true, force: true})
  })

  it('attaches the file: a multi-block DAG of age ciphertext, SHA-256 and size as given', async () => {
    const r = await runJson<AttachResult>(['records', 'attach', file, '--patient', P, '--class', 'imaging'])
    expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
    attached = r.envelope.result
    expect(attached).toMatchObject({
      class: 'imaging',
      size: SIZE,
      contentType: 'application/zip',
      created: true,
      sha256: createHash('sha256').update(content).digest('hex'),
    })
    expect(CID.parse(attached.cid).code).toBe(DAG_PB)
    const cat = storeCat(t, attached.cid)
    expect(cat.status).toBe(0)
    ciphertext = cat.stdout
    expect(ciphertext.subarray(0, 22).toString('latin1')).toBe('age-encryption.org/v1\n')
    // STREAM: 16 bytes of tag per 64 KiB chunk, so the ciphertext is longer by at least that much per chunk.
    expect(ciphertext.length).toBeGreaterThan(SIZE + 16 * Math.ceil(SIZE / 65_536))
    expect(ciphertext.includes(content.subarray(1_000_000, 1_000_064))).toBe(false)
  })

  it('the Debian age CLI decrypts the stored ciphertext with its object key (unwrapped by age from the custodian envelope)', () => {
    const key = runBin(['records', 'key', '--cid', attached.cid, '--json'], {env: t.env})
    expect(key.status, key.stdout + key.stderr).toBe(0)
    const envelope = Buffer.from(parseEnvelope<{envelope: string}>(key.stdout).result.envelope, 'base64')
    const objectKey = ageOpen(work, envelope, [custodianIdentity])?.toString('utf8').trim()
    expect(objectKey).toMatch(/^AGE-SECRET-KEY-1/)
    const plain = ageOpen(work, ciphertext, [objectKey as string])
    expect(plain?.equals(content)).toBe(true)
  })

  it("the DocumentReference is in the patient's record under the chosen class, valid FHIR R4, with SHA-1, SHA-256, size and CID", async () => {
    const out = join(work, 'show.json')
    const shown = await runJson(['records', 'show', '--patient', P, '--classes', 'imaging', '--out', out])
    expect(shown.exitCode, JSON.stringify(shown.envelope)).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    const docs = bundle.entry.map((e) => e.resource).filter((r) => r.resourceType === 'DocumentReference')
    expect(docs.map((d) => d.id)).toEqual([attached.documentReference])
    const doc = docs[0] as FhirResource & {
      content: Array<{
        attachment: {
          hash: string
          size: number
          contentType: string
          extension: Array<{url: string; valueString?: string; valueDecimal?: number}>
        }
      }>
    }
    expect(validateFhir(doc)).toBeUndefined()
    const a = doc.content[0]?.attachment
    expect(a?.hash).toBe(createHash('sha1').update(content).digest('base64'))
    expect(a?.size).toBe(SIZE)
    expect(a?.contentType).toBe('application/zip')
    const ext = (url: string) => a?.extension.find((e) => e.url === url)
    expect(ext(ATTACHMENT_EXTENSION.sha256)?.valueString).toBe(attached.sha256)
    expect(ext(ATTACHMENT_EXTENSION.cid)?.valueString).toBe(attached.cid)
    expect(ext(ATTACHMENT_EXTENSION.size)?.valueDecimal).toBe(SIZE)
  })

  it('is idempotent: the same file again stores nothing and returns the same DocumentReference', async () => {
    const before = (await runJson<{patients: Array<{objects: unknown[]}>}>(['records', 'list', '--patient', P])).envelope.result.patients[0]
      ?.objects.length
    const again = await runJson<AttachResult>(['records', 'attach', file, '--patient', P, '--class', 'imaging'])
    expect(again.exitCode).toBe(0)
    expect(again.envelope.result).toMatchObject({
      created: false,
      documentReference: attached.documentReference,
      cid: attached.cid,
      recordCid: attached.recordCid,
    })
    const after = (await runJson<{patients: Array<{objects: unknown[]}>}>(['records', 'list', '--patient', P])).envelope.result.patients[0]
      ?.objects.length
    expect(after).toBe(before)
    const out = join(work, 'show-again.json')
    expect((await runJson(['records', 'show', '--patient', P, '--classes', 'imaging', '--out', out])).exitCode).toBe(0)
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as {entry: Array<{resource: FhirResource}>}
    expect(bundle.entry.filter((e) => e.resource.resourceType === 'DocumentReference').length).toBe(1)
  })

  it('refuses with stable codes: missing file, unknown class, unknown patient', async () => {
    const missing = await runJson(['records', 'attach', join(work, 'nope.dcm'), '--patient', P, '--class', 'imaging'])
    expect([missing.exitCode, missing.envelope.error.code]).toEqual([2, 'E_FILE_NOT_FOUND'])
    const badClass = await runJson(['records', 'attach', file, '--patient', P, '--class', 'xrays'])
    expect([badClass.exitCode, badClass.envelope.error.code]).toEqual([2, 'E_BAD_CLASS'])
    const stranger = await runJson(['records', 'attach', file, '--patient', 'http://hospital.example/mrn|NOBODY', '--class', 'imaging'])
    expect([stranger.exitCode, stranger.envelope.error.code]).toEqual([2, 'E_PATIENT_NOT_FOUND'])
  })

  it('is audited (intent, written, existing) with CIDs and class, never the file name, and the log verifies', async () => {
    const audit = await runJson<{
      entries: Array<{type: string; subject?: string; cids?: string[]; classes?: string[]; detail?: {kind?: string; phase?: string}}>
    }>(['audit', 'show'])
    const entries = audit.envelope.result.entries.filter((e) => e.detail?.kind === 'attach')
    expect(entries.map((e) => e.detail?.phase)).toEqual(['intent', 'written', 'existing'])
    expect(entries[1]?.cids).toEqual([attached.cid, attached.recordCid])
    expect(entries[1]?.classes).toEqual(['imaging'])
    const paths = resolvePaths({env: t.env})
    for (const name of readdirSync(paths.auditDir)) {
      const text = readFileSync(join(paths.auditDir, name)).toString('latin1')
      expect(text.includes('quixote-brain-mri'), name).toBe(false)
      expect(text.includes(attached.sha256), name).toBe(false)
    }
    expect(readFileSync(paths.database).includes(Buffer.from('quixote-brain-mri'))).toBe(false)
    expect((await runJson(['audit', 'verify'])).exitCode).toBe(0)
  })

  describe('shared to a grantee and fetched back byte-exact', () => {
    let car: string
    beforeAll(async () => {
      expect((await runJson(['profile', 'create', 'clinic'])).exitCode).toBe(0)
      const granted = await runJson([
        'consent',
        'grant',
        '--patient',
        P,
        '--grantee',
        'clinic',
        '--purpose',
        'TREAT',
        '--classes',
        'imaging',
        '--until',
        '30d',
      ])
      expect(granted.exitCode, JSON.stringify(granted.envelope)).toBe(0)
      car = join(work, 'pkg.car')
      const shared = await runJson<{classes: string[]; objects: number; attachments: number}>([
        'records',
        'share',
        '--patient',
        P,
        '--to',
        'clinic',
        '--purpose',
        'TREAT',
        '--out',
        car,
      ])
      expect(shared.exitCode, JSON.stringify(shared.envelope)).toBe(0)
      expect(shared.envelope.result).toMatchObject({classes: ['imaging'], objects: 2, attachments: 1})
    }, 120_000)

    it('from a CAR file: the attachment is written next to the Bundle, SHA-256 checked', async () => {
      const dir = join(work, 'from-car')
      mkdirSync(dir)
      const r = await runJson<FetchResult>(['records', 'fetch', car, '--out', join(dir, 'bundle.json'), '--profile', 'clinic'])
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
      expect(r.envelope.result.attachments).toEqual([
        {
          documentReference: attached.documentReference,
          class: 'imaging',
          cid: attached.cid,
          file: join(dir, 'quixote-brain-mri.zip'),
          bytes: SIZE,
          sha256: attached.sha256,
          contentType: 'application/zip',
        },
      ])
      expect(readFileSync(join(dir, 'quixote-brain-mri.zip')).equals(content)).toBe(true)
      const bundle = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as {entry: Array<{resource: FhirResource}>}
      expect(bundle.entry.map((e) => e.resource.id)).toContain(attached.documentReference)
    })

    it('by CID through the content store, into --attachments', async () => {
      const shared = await runJson<{packageCid: string}>(['records', 'share', '--patient', P, '--to', 'clinic', '--purpose', 'TREAT'])
      expect(shared.exitCode).toBe(0)
      const dir = join(work, 'from-store')
      mkdirSync(dir)
      const r = await runJson<FetchResult>([
        'records',
        'fetch',
        shared.envelope.result.packageCid,
        '--out',
        join(work, 'store-bundle.json'),
        '--attachments',
        dir,
        '--profile',
        'clinic',
      ])
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
      expect(readFileSync(join(dir, 'quixote-brain-mri.zip')).equals(content)).toBe(true)
    })

    it('a CAR with one flipped byte in the attachment is refused and nothing is written', async () => {
      const bytes = readFileSync(car)
      const at = bytes.indexOf(ciphertext.subarray(2_000_000, 2_000_032))
      expect(at).toBeGreaterThan(0)
      bytes[at + 7] = (bytes[at + 7] as number) ^ 0x01
      const bad = join(work, 'flipped.car')
      writeFileSync(bad, bytes)
      const dir = join(work, 'from-flipped')
      mkdirSync(dir)
      const r = await runJson(['records', 'fetch', bad, '--out', join(dir, 'bundle.json'), '--profile', 'clinic'])
      expect([r.exitCode, r.envelope.error.code]).toEqual([4, 'E_CAR_CORRUPT'])
      expect(readdirSync(dir)).toEqual([])
    })
  })

  it("records upload replicates the attachment to a Kubo node (streamed from the home's blocks) and pins it", async () => {
    const kubo = new KuboMock()
    await kubo.start()
    try {
      const r = await runJson<{uploaded: number; failed: number}>(['records', 'upload', '--kubo', kubo.url])
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
      expect(kubo.pins.has(attached.cid)).toBe(true)
      expect((await readAll(readUnixfs(attached.cid, async (c) => kubo.blocks.get(c)))).equals(ciphertext)).toBe(true)
    } finally {
      await kubo.stop()
    }
  })

  describe('records erase shreds the attachment too', () => {
    let result: {objects: number; envelopes: number}
    beforeAll(async () => {
      // The control: before the erase, the keys the home holds do open the stored copy.
      const before = await keysReachableFrom(resolvePaths({env: t.env}).database, custodianIdentity)
      expect(ageOpen(work, ciphertext, before)?.equals(content)).toBe(true)
      const r = await runJson<{objects: number; envelopes: number}>(['records', 'erase', '--patient', P, '--yes'])
      expect(r.exitCode, JSON.stringify(r.envelope)).toBe(0)
      result = r.envelope.result
    }, 120_000)

    it('its key envelopes and blocks are gone and nothing the home holds decrypts the saved ciphertext', async () => {
      expect(result.objects).toBeGreaterThanOrEqual(3)
      const key = runBin(['records', 'key', '--cid', attached.cid, '--json'], {env: t.env})
      expect(parseEnvelope(key.stdout).error.code).toBe('E_NO_ENVELOPE')
      expect(storeCat(t, attached.cid).status).not.toBe(0)
      const ids = await keysReachableFrom(resolvePaths({env: t.env}).database, custodianIdentity)
      expect(ageOpen(work, ciphertext, ids)).toBeUndefined()
      const db = readFileSync(resolvePaths({env: t.env}).database)
      expect(db.includes(ciphertext.subarray(ciphertext.length - 64))).toBe(false)
    })

    it('a later attach for the erased patient is E_ERASED', async () => {
      const r = await runJson(['records', 'attach', file, '--patient', P, '--class', 'imaging'])
      expect([r.exitCode, r.envelope.error.code]).toEqual([2, 'E_ERASED'])
      expect(existsSync(file)).toBe(true)
    })
  })
})
