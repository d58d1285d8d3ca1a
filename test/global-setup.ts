import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {TestProject} from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** An initialised home (init done, node stopped and its state dumped) that initHome copies; '' if none. */
    medctlTemplateHome: string
  }
}

// Subprocess tests run bin/run.js, which loads dist/: build once so it is current.
// MEDCTL_SKIP_BUILD=1 skips it for quick focused runs of library tests.
export default function setup(project: TestProject): () => void {
  const root = fileURLToPath(new URL('..', import.meta.url))
  // Without vitest's NODE_ENV=test: under it `oclif manifest` records src/commands/*.ts (loaded
  // through tsx), so bin/run.js would run the TypeScript sources instead of dist/, and the session
  // agent, started as `node --import tsx` from /, would not start at all.
  const {NODE_ENV: _testMode, ...env} = process.env
  if (process.env.MEDCTL_SKIP_BUILD !== '1') execFileSync('npm', ['run', '--silent', 'build'], {cwd: root, stdio: 'inherit', env})
  // One `medctl init` for the whole run (keys, funded wallet, deployed registry), its node stopped
  // so its chain is dumped to state.json; test files that only need an initialised home copy it
  // (test/helpers/cli.ts initHome) instead of running init again. Without dist/ there is none and
  // initHome runs init itself.
  const template = mkdtempSync(join(tmpdir(), 'medctl-template-'))
  // The environment useTempHome gives a home (test/helpers/cli.ts), and no other MEDCTL_* setting.
  const homeEnv = {
    ...Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('MEDCTL_'))),
    MEDCTL_HOME: template,
    MEDCTL_PASSPHRASE: 'test-passphrase-not-secret',
    MEDCTL_KDF_LOGN: '11',
    MEDCTL_NO_INPUT: '1',
    NO_COLOR: '1',
  }
  const bin = join(root, 'bin', 'run.js')
  let provided = ''
  try {
    execFileSync(process.execPath, [bin, 'init', '--json'], {cwd: root, env: homeEnv, stdio: 'pipe'})
    execFileSync(process.execPath, [bin, 'node', 'stop', '--json'], {cwd: root, env: homeEnv, stdio: 'pipe'})
    provided = template
  } catch (error) {
    console.warn(`no template home (${(error as Error).message.split('\n')[0]}); test files will run init themselves`)
  }
  project.provide('medctlTemplateHome', provided)
  return () => rmSync(template, {recursive: true, force: true})
}
