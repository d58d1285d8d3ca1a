import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseEnvelope, runBin, runJson, useTempHome, type TestHome} from '../helpers/cli.js'

describe('the CLI contract (subprocess: real exit codes, stdout/stderr split)', () => {
  let t: TestHome
  beforeAll(() => {
    t = useTempHome()
  })
  afterAll(async () => t.cleanup())

  it('--help lists the topics with summaries', () => {
    const r = runBin(['--help'], {env: t.env})
    expect(r.status).toBe(0)
    for (const topic of ['profile', 'keys', 'node']) expect(r.stdout).toMatch(new RegExp(`\\n\\s+${topic}\\s+\\S`))
  })

  it('an unknown flag exits 2 with an error envelope that does not echo argv', () => {
    const r = runBin(['profile', 'list', '--json', '--passphrase=hunter22', `--file=${t.home}/x`], {env: t.env})
    expect(r.status).toBe(2)
    const envelope = parseEnvelope(r.stdout)
    expect(envelope.status).toBe('error')
    expect(envelope.error.code).toBe('E_UNKNOWN_FLAG')
    expect(envelope.error.exitCode).toBe(2)
    expect(r.stdout).not.toContain('hunter22')
    expect(r.stdout).not.toContain(t.home)
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/)
  })

  it('a missing argument exits 2 (E_MISSING_ARGUMENT) with and without --json', () => {
    const json = runBin(['profile', 'use', '--json'], {env: t.env})
    expect(json.status).toBe(2)
    expect(parseEnvelope(json.stdout).error.code).toBe('E_MISSING_ARGUMENT')
    const human = runBin(['profile', 'use'], {env: t.env})
    expect(human.status).toBe(2)
    expect(human.stdout).toBe('')
    expect(human.stderr).toContain('E_MISSING_ARGUMENT')
  })

  it('a service error keeps its exit code under --json (oclif alone would exit 1)', () => {
    const r = runBin(['profile', 'show', 'nope', '--json'], {env: t.env})
    expect(r.status).toBe(2)
    const envelope = parseEnvelope(r.stdout)
    expect(envelope).toMatchObject({status: 'error', error: {code: 'E_PROFILE_NOT_FOUND', exitCode: 2}})
  })

  it('errors go to stderr without a stack trace unless DEBUG is set', () => {
    const plain = runBin(['profile', 'show', 'nope'], {env: t.env})
    expect(plain.stdout).toBe('')
    expect(plain.stderr).toContain('Error [E_PROFILE_NOT_FOUND]')
    expect(plain.stderr).not.toMatch(/\n\s+at /)
    const debug = runBin(['profile', 'show', 'nope'], {env: {...t.env, DEBUG: '1'}})
    expect(debug.stderr).toMatch(/\n\s+at /)
  })

  it('a destructive command without a terminal and without --yes exits 2 naming the flag', () => {
    const r = runBin(['profile', 'delete', 'whatever', '--json'], {env: t.env})
    expect(r.status).toBe(2)
  })

  it('without MEDCTL_PASSPHRASE and without a terminal, a command needing keys exits 2 naming the variable', () => {
    const env = {...t.env, MEDCTL_PASSPHRASE: ''}
    const r = runBin(['init', '--json'], {env})
    expect(r.status).toBe(2)
    const envelope = parseEnvelope(r.stdout)
    expect(envelope.error.code).toBe('E_PASSPHRASE_REQUIRED')
    expect(envelope.error.suggestions.join(' ')).toContain('MEDCTL_PASSPHRASE')
  })

  it('runCommand in-process returns the ok envelope with warnings', async () => {
    const {envelope, exitCode} = await runJson<{profiles: unknown[]}>(['profile', 'list'])
    expect(exitCode).toBe(0)
    expect(envelope).toMatchObject({status: 'ok', exitCode: 0})
    expect(envelope.warnings).toEqual([])
    expect(Array.isArray(envelope.result.profiles)).toBe(true)
  })

  it('tables carry no ANSI colour when NO_COLOR is set or stdout is not a TTY', () => {
    const r = runBin(['keys', 'list'], {env: t.env})
    expect(r.status).toBe(0)
    expect(r.stdout).not.toMatch(/\u001B\[/)
  })
})
