import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {repoRoot} from './helpers/cli.js'

const CHECKER = join(repoRoot, 'scripts', 'check-layers.mjs')

function check(root: string): {status: number | null; stdout: string; stderr: string} {
  const result = spawnSync(process.execPath, [CHECKER, root], {encoding: 'utf8'})
  return {status: result.status, stdout: result.stdout, stderr: result.stderr}
}

const trees: string[] = []
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'medctl-layers-'))
  trees.push(root)
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), {recursive: true})
    writeFileSync(join(root, path), text)
  }
  return root
}

afterEach(() => {
  for (const root of trees.splice(0)) rmSync(root, {recursive: true, force: true})
})

/** A small tree that keeps every rule: core at the bottom, vault over core, a command over both. */
const CLEAN = {
  'src/lib/core/errors.ts': 'export class MedctlError extends Error {}\n',
  'src/lib/vault/read.ts': "import {MedctlError} from '../core/errors.js'\nexport const read = () => new MedctlError()\n",
  'src/lib/cli/base-command.ts':
    "import {Command} from '@oclif/core'\nimport {MedctlError} from '../core/errors.js'\nexport {Command, MedctlError}\n",
  'src/commands/records/show.ts':
    "import {Command} from '@oclif/core'\nimport {read} from '../../lib/vault/read.js'\nexport default Command\nexport {read}\n",
  'package.json': JSON.stringify({dependencies: {'@oclif/core': '^4'}, devDependencies: {vitest: '^4'}}),
}

describe('scripts/check-layers.mjs (run by npm run lint)', () => {
  it('passes on this repository', () => {
    const result = check(repoRoot)
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/check-layers: ok/)
  })

  it('passes on a small tree that keeps the rules', () => {
    const result = check(tree(CLEAN))
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
  })

  it('fails on a cycle between two folders, naming the files on each side (multi-line and type-only imports count)', () => {
    const root = tree({
      ...CLEAN,
      'src/lib/audit/service.ts':
        "import {\n  listAnchors,\n  type Anchor,\n} from '../consent/registry.js'\nexport const anchors: Anchor[] = listAnchors()\n",
      'src/lib/consent/registry.ts': 'export type Anchor = {size: number}\nexport const listAnchors = (): Anchor[] => []\n',
      'src/lib/consent/audit.ts': "import type {Entry} from '../audit/entry.js'\nexport const entries: Entry[] = []\n",
      'src/lib/audit/entry.ts': 'export type Entry = {type: string}\n',
    })
    const result = check(root)
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/import cycle between folders of src\/lib: audit, consent/)
    expect(result.stderr).toMatch(/audit -> consent: src\/lib\/audit\/service\.ts/)
    expect(result.stderr).toMatch(/consent -> audit: src\/lib\/consent\/audit\.ts/)
  })

  it('fails when src imports a package package.json "dependencies" does not declare (a devDependency or a transitive one); type-only imports and builtins pass', () => {
    const root = tree({
      ...CLEAN,
      'src/lib/vault/store.ts':
        "import {describe} from 'vitest'\nimport * as dagPb from '@ipld/dag-pb/src/index.js'\nimport {readFileSync} from 'node:fs'\nimport {join} from 'path'\nexport {describe, dagPb, readFileSync, join}\n",
      'src/lib/vault/types.ts': "import type {Foo} from 'only-types'\nexport type Bar = Foo\n",
    })
    const result = check(root)
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/src\/lib\/vault\/store\.ts: imports 'vitest', which package\.json "dependencies" does not declare/)
    expect(result.stderr).toMatch(/imports '@ipld\/dag-pb\/src\/index\.js', which/)
    expect(result.stderr).not.toMatch(/only-types|node:fs|'path'/)
    expect(result.stderr).toMatch(/2 problem\(s\)/)
  })

  it('fails on a cycle through three folders', () => {
    const root = tree({
      'src/lib/a/x.ts': "export {y} from '../b/y.js'\n",
      'src/lib/b/y.ts': "import {z} from '../c/z.js'\nexport const y = z\n",
      'src/lib/c/z.ts': "export const z = 1\nexport const later = () => import('../a/x.js')\n",
    })
    const result = check(root)
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/import cycle between folders of src\/lib: a, b, c/)
  })

  it('fails when a service imports lib/cli or @oclif/core, core imports a layer, or a command imports a command', () => {
    const root = tree({
      ...CLEAN,
      'src/lib/vault/import.ts': "import {MedctlError} from '../cli/errors.js'\nexport const e = MedctlError\n",
      'src/lib/fhir/read.ts': "import {ux} from '@oclif/core'\nexport const u = ux\n",
      'src/lib/core/atomic.ts': "import {u} from '../fhir/read.js'\nexport const r = u\n",
      'src/lib/cli/errors.ts': "export * from '../core/errors.js'\n",
      'src/commands/records/fetch.ts': "import Show from './show.js'\nexport default Show\n",
    })
    const result = check(root)
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/src\/lib\/vault\/import\.ts: imports src\/lib\/cli\/errors\.ts/)
    expect(result.stderr).toMatch(/src\/lib\/fhir\/read\.ts: imports '@oclif\/core'/)
    expect(result.stderr).toMatch(/src\/lib\/core\/atomic\.ts: imports src\/lib\/fhir\/read\.ts/)
    expect(result.stderr).toMatch(/src\/commands\/records\/fetch\.ts: imports the command src\/commands\/records\/show\.ts/)
    // lib/cli itself may use @oclif/core, and commands may use lib: neither is reported
    expect(result.stderr).not.toMatch(/base-command\.ts: imports/)
    expect(result.stderr).not.toMatch(/show\.ts: imports/)
    expect(result.stderr).not.toMatch(/cycle/)
  })
})
