import {randomBytes} from 'node:crypto'
import {closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {closeDatabases, openDatabase} from '../../src/lib/db/database.js'
import {attachFile} from '../../src/lib/vault/attach.js'
import {newObjectKey} from '../../src/lib/vault/crypto.js'
import {subjectOf} from '../../src/lib/vault/pseudonym.js'
import {RecordIndex} from '../../src/lib/vault/record-index.js'

const PATIENT = 'http://hospital.example/mrn|MRN-7'

describe('attachFile: a file that changes while it is attached is refused, and nothing is linked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medctl-attach-changed-'))
  afterAll(() => {
    closeDatabases()
    rmSync(dir, {recursive: true, force: true})
  })

  it('E_FILE_CHANGED when the bytes differ between the hashing pass and the encrypting pass; a clean rerun attaches', async () => {
    const db = openDatabase({database: join(dir, 'medctl.db')})
    const key = await newObjectKey()
    const custodian = {address: '0x000000000000000000000000000000000000c0de', recipient: key.recipient, pseudonymKey: randomBytes(32)}
    const index = new RecordIndex(db, custodian.address)
    index.upsertSubject(subjectOf(custodian.pseudonymKey, PATIENT), Buffer.from('enc'))
    const file = join(dir, 'series.zip')
    writeFileSync(file, randomBytes(4 * 1024 * 1024))
    let touched = false
    const onProgress = (event: {phase?: string; done: number}): void => {
      // Another program rewrites the end of the file while medctl encrypts its beginning.
      if (event.phase !== 'encrypting' || touched) return
      touched = true
      const fd = openSync(file, 'r+')
      writeSync(fd, randomBytes(4096), 0, 4096, 3 * 1024 * 1024)
      closeSync(fd)
    }
    await expect(attachFile({db, custodian, file, patient: PATIENT, dataClass: 'imaging', onProgress})).rejects.toMatchObject({
      code: 'E_FILE_CHANGED',
    })
    expect(touched).toBe(true)
    expect(index.objects({attachments: 'include'})).toEqual([])
    const done = await attachFile({db, custodian, file, patient: PATIENT, dataClass: 'imaging'})
    expect(done.created).toBe(true)
    expect(index.objects({attachments: 'only'}).map((o) => o.cid)).toEqual([done.cid])
    expect(index.objects().map((o) => o.cid)).toEqual([done.recordCid])
  })
})
