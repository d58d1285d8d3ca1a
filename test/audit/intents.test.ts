import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import type {AuditInput} from '../../src/lib/audit/entry.js'
import {appendAuditBatch} from '../../src/lib/audit/service.js'
import {verifyAuditLog} from '../../src/lib/audit/verify.js'

const dir = mkdtempSync(join(tmpdir(), 'medctl-intents-'))
const actor = {address: '0x1111111111111111111111111111111111111111'}
const entry = (type: AuditInput['type'], detail: AuditInput['detail'], extra: Partial<AuditInput> = {}): AuditInput => ({
  type,
  action: 'C',
  outcome: 'success',
  actor,
  detail,
  ...extra,
})

describe('write-ahead intents without an outcome are reported by verify', () => {
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('an import job that finished and a fetch that was written leave nothing open; a killed job and a lone fetch intent are named', async () => {
    const paths = {auditDir: dir}
    await appendAuditBatch(paths, [
      entry('import', {phase: 'intent', job: 1, batch: 1}),
      entry('import', {phase: 'intent', job: 1, batch: 2}),
      entry('import', {phase: 'finished', job: 1}),
      entry('fetch', {phase: 'intent'}, {subject: `0x${'aa'.repeat(32)}`, consentId: `0x${'01'.repeat(20)}`}),
      entry('fetch', {phase: 'written'}, {subject: `0x${'aa'.repeat(32)}`, consentId: `0x${'01'.repeat(20)}`}),
    ])
    expect(verifyAuditLog(dir).openIntents).toEqual([])

    await appendAuditBatch(paths, [
      entry('import', {phase: 'intent', job: 2, batch: 1}),
      entry('fetch', {phase: 'intent'}, {subject: `0x${'bb'.repeat(32)}`, consentId: `0x${'02'.repeat(20)}`}),
    ])
    const result = verifyAuditLog(dir)
    expect(result.openIntents).toEqual([
      {index: 5, type: 'import', job: 2},
      {index: 6, type: 'fetch'},
    ])
    // Reported, not a failure: the log itself is intact.
    expect(result.problems.filter((p) => !/custodian|unverified/i.test(p.problem))).toEqual([])
  })
})
