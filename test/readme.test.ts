import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {cliEnv, killHomeNode, repoRoot} from './helpers/cli.js'

/**
 * The README's walkthrough, run as written: every line of every ```sh doctest block, in order, in
 * one bash process at the clone's root (so `npx medctl` resolves as it does for a reader). A line
 * ending in `# exit N` must exit N; every other command must exit 0.
 */
interface DocLine {
  readmeLine: number
  text: string
  expectedExit: number
}

function doctestLines(readme: string): DocLine[] {
  const lines = readme.split('\n')
  const out: DocLine[] = []
  let inBlock = false
  lines.forEach((line, i) => {
    if (!inBlock && /^```sh doctest\s*$/.test(line)) inBlock = true
    else if (inBlock && line.startsWith('```')) inBlock = false
    else if (inBlock && line.trim() !== '' && !line.trim().startsWith('#')) {
      const expected = /#\s*exit (\d+)\b/.exec(line)
      out.push({readmeLine: i + 1, text: line, expectedExit: expected ? Number(expected[1]) : 0})
    }
  })
  return out
}

function scriptOf(lines: DocLine[]): string {
  const steps = lines.map(
    (l) =>
      `${l.text}\nrc=$?; if [ "$rc" -ne ${l.expectedExit} ]; then echo "README line ${l.readmeLine}: exit $rc, expected ${l.expectedExit}" >&2; exit 90; fi`,
  )
  return ['set -u', ...steps, 'echo "doctest: all lines ran"'].join('\n')
}

describe('README walkthrough (doc test)', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const lines = doctestLines(readme)
  // mktemp in the walkthrough lands here, so the test can clean up whatever the script made.
  const scratch = mkdtempSync(join(tmpdir(), 'medctl-readme-'))

  afterAll(async () => {
    // A failed run may leave the walkthrough's embedded node running: end it, then remove all.
    for (const entry of readdirSync(scratch)) await killHomeNode(join(scratch, entry))
    rmSync(scratch, {recursive: true, force: true})
  })

  it('has a runnable walkthrough covering the main job', () => {
    expect(lines.length).toBeGreaterThanOrEqual(15)
    const commands = lines.map((l) => l.text)
    for (const step of [
      'medctl init',
      'records import',
      'consent grant',
      'records share',
      'records fetch',
      'consent revoke',
      'export research',
      'audit verify',
    ]) {
      expect(commands.some((c) => c.includes(`npx medctl ${step.replace(/^medctl /, '')}`))).toBe(true)
    }
    expect(lines.some((l) => l.expectedExit === 5)).toBe(true)
  })

  it('every line runs as written, with the exit code the README says', () => {
    const env: NodeJS.ProcessEnv = cliEnv({TMPDIR: scratch, NO_COLOR: '1', CI: '1'})
    for (const key of Object.keys(env)) if (key.startsWith('MEDCTL_')) delete env[key]
    // Only the key-derivation cost differs from a reader's run (production scrypt on every command
    // would add minutes, and proves nothing about the commands).
    env.MEDCTL_KDF_LOGN = '11'
    const run = spawnSync('bash', ['-c', scriptOf(lines)], {cwd: repoRoot, env, encoding: 'utf8', timeout: 480_000, input: ''})
    const failure = /README line (\d+)/.exec(run.stderr)
    const context = failure ? `\n${readme.split('\n')[Number(failure[1]) - 1]}\n` : ''
    expect(run.status, `${context}stderr (tail):\n${run.stderr.slice(-3000)}`).toBe(0)
    expect(run.stdout).toContain('doctest: all lines ran')
    // The fetch before the revoke wrote the clinic's Bundle; the one after it wrote nothing.
    const work = readdirSync(scratch)
      .map((d) => join(scratch, d))
      .find((d) => existsSync(join(d, 'labs.json')))
    expect(work).toBeDefined()
    const bundle = JSON.parse(readFileSync(join(work as string, 'labs.json'), 'utf8')) as {resourceType: string; entry: unknown[]}
    expect(bundle.resourceType).toBe('Bundle')
    expect(bundle.entry.length).toBeGreaterThan(0)
    expect(existsSync(join(work as string, 'again.json'))).toBe(false)
  }, 600_000)
})
