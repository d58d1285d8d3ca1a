import {Config, Errors} from '@oclif/core'
import {afterEach, beforeAll, describe, expect, it, vi} from 'vitest'
import {BaseCommand} from '../../src/lib/cli/base-command.js'
import {ExitCode, MedctlError, type ExitCodeValue} from '../../src/lib/core/errors.js'
import {repoRoot} from '../helpers/cli.js'

class Fails extends BaseCommand<typeof Fails> {
  static code: ExitCodeValue = ExitCode.FAILURE
  async run(): Promise<never> {
    throw new MedctlError('E_TEST', 'it failed', {exitCode: Fails.code, suggestions: ['do the other thing']})
  }
}

class Partial extends BaseCommand<typeof Partial> {
  async run(): Promise<{read: number}> {
    this.warn('two lines rejected')
    this.setExitCode(ExitCode.PARTIAL)
    return {read: 3}
  }
}

async function run(cmd: typeof Fails | typeof Partial, argv: string[]): Promise<{exit: number; stdout: string; stderr: string}> {
  const out: string[] = []
  const err: string[] = []
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk))
    return true
  })
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk))
    return true
  })
  let exit = 0
  try {
    await cmd.run(argv, config)
  } catch (error) {
    if (!(error instanceof Errors.ExitError)) throw error
    exit = error.oclif.exit ?? 1
  } finally {
    stdout.mockRestore()
    stderr.mockRestore()
  }
  return {exit, stdout: out.join(''), stderr: err.join('')}
}

let config: Config
beforeAll(async () => {
  config = await Config.load(repoRoot)
})
afterEach(() => {
  Fails.code = ExitCode.FAILURE
})

describe('exit codes are honoured with and without --json', () => {
  for (const code of [ExitCode.FAILURE, ExitCode.USAGE, ExitCode.VERIFY_FAILED, ExitCode.DENIED, ExitCode.CANCELLED]) {
    it(`exit ${code}`, async () => {
      Fails.code = code
      const json = await run(Fails, ['--json'])
      expect(json.exit).toBe(code)
      expect(JSON.parse(json.stdout)).toEqual({
        status: 'error',
        error: {code: 'E_TEST', message: 'it failed', exitCode: code, suggestions: ['do the other thing']},
      })
      const human = await run(Fails, [])
      expect(human.exit).toBe(code)
      expect(human.stdout).toBe('')
      expect(human.stderr).toContain('Error [E_TEST]: it failed')
    })
  }

  it('partial success (3) still prints the result, with warnings in the envelope', async () => {
    const json = await run(Partial, ['--json'])
    expect(json.exit).toBe(3)
    expect(JSON.parse(json.stdout)).toEqual({status: 'partial', exitCode: 3, result: {read: 3}, warnings: ['two lines rejected']})
    expect(json.stderr).toBe('')
    const human = await run(Partial, [])
    expect(human.exit).toBe(3)
    expect(human.stderr).toContain('Warning: two lines rejected')
  })

  it('never leaks MEDCTL_PASSPHRASE in an error message', async () => {
    process.env.MEDCTL_PASSPHRASE = 'super-secret-value'
    class Leaky extends BaseCommand<typeof Leaky> {
      async run(): Promise<never> {
        throw new MedctlError('E_TEST', 'bad value super-secret-value')
      }
    }
    const r = await run(Leaky as unknown as typeof Fails, ['--json'])
    expect(r.stdout).not.toContain('super-secret-value')
    expect(r.stdout).toContain('[redacted]')
    delete process.env.MEDCTL_PASSPHRASE
  })
})
