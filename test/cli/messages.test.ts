import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseEnvelope, runBin, useTempHome, type TestHome} from '../helpers/cli.js'

describe('errors that say what to do (real binary: exit codes, stdout/stderr split)', () => {
  let t: TestHome
  beforeAll(() => {
    t = useTempHome()
  })
  afterAll(async () => t.cleanup())

  it('several missing flags: one line per problem, each naming the flag as typed', () => {
    const r = runBin(['records', 'show', '--json'], {env: t.env})
    expect(r.status).toBe(2)
    const envelope = parseEnvelope(r.stdout)
    expect(envelope.error.code).toBe('E_INVALID_FLAGS')
    expect(envelope.error.message.split('\n').sort()).toEqual(['Missing required flag --out.', 'Missing required flag --patient.'])
    const human = runBin(['records', 'show'], {env: t.env})
    expect(human.stderr).toMatch(/^Error \[E_INVALID_FLAGS\]: Missing required flag --\w+\.\n {2}Missing required flag --\w+\.\n/)
    expect(human.stdout).toBe('')
  })

  it('a bad class names the value (when it is a plain word) and the allowed ones; never echoes a path', () => {
    const r = runBin(
      [
        'consent',
        'grant',
        '--patient',
        'x|1',
        '--grantee',
        'clinic',
        '--purpose',
        'TREAT',
        '--classes',
        'labz,/etc/passwd',
        '--until',
        '1d',
        '--json',
      ],
      {env: t.env},
    )
    expect(r.status).toBe(2)
    const {error} = parseEnvelope(r.stdout)
    expect(error.code).toBe('E_BAD_CLASS')
    expect(error.message).toContain('"labz"')
    expect(error.message).toContain('Classes: demographics')
    expect(r.stdout).not.toContain('/etc/passwd')
    const purpose = parseEnvelope(
      runBin(
        ['consent', 'grant', '--patient', 'x|1', '--grantee', 'clinic', '--purpose', 'FUN', '--classes', 'labs', '--until', '1d', '--json'],
        {env: t.env},
      ).stdout,
    )
    expect(purpose.error).toMatchObject({code: 'E_BAD_PURPOSE'})
    expect(purpose.error.message).toContain('"FUN"')
  })

  it('a mistyped command: E_UNKNOWN_COMMAND, exit 2, the JSON envelope under --json, the closest command suggested', () => {
    const r = runBin(['consnet', 'grant', '--json'], {env: t.env})
    expect(r.status).toBe(2)
    const envelope = parseEnvelope(r.stdout)
    expect(envelope).toMatchObject({status: 'error', error: {code: 'E_UNKNOWN_COMMAND', exitCode: 2}})
    expect(envelope.error.suggestions[0]).toBe('Did you mean: medctl consent grant')
    const human = runBin(['consnet', 'grant'], {env: t.env})
    expect(human.status).toBe(2)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain('E_UNKNOWN_COMMAND')
  })
})
