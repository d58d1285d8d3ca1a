import {lstatSync, mkdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {isAbsolute, join, relative, resolve, sep} from 'node:path'
import {MedctlError, quoteInput} from '../core/errors.js'

/** Where everything medctl writes lives. */
export interface MedctlPaths {
  /** The root when MEDCTL_HOME is set (else the config dir). */
  home: string
  configDir: string
  keysDir: string
  dataDir: string
  nodeDir: string
  auditDir: string
  reportsDir: string
  /** The SQLite database: the record index and the embedded IPFS blocks. */
  database: string
  /** The one-writer lock of this home (see lock.ts). */
  lockFile: string
}

export interface PathInputs {
  env?: NodeJS.ProcessEnv
  /** oclif's config.configDir / config.dataDir, used when MEDCTL_HOME is not set. */
  configDir?: string
  dataDir?: string
}

export function resolvePaths(inputs: PathInputs = {}): MedctlPaths {
  const env = inputs.env ?? process.env
  const medctlHome = env.MEDCTL_HOME?.trim()
  const configDir = medctlHome ? join(medctlHome, 'config') : (inputs.configDir ?? join(homedir(), '.config', 'medctl'))
  const dataDir = medctlHome ? join(medctlHome, 'data') : (inputs.dataDir ?? join(homedir(), '.local', 'share', 'medctl'))
  const home = medctlHome || configDir
  return {
    home,
    configDir,
    keysDir: join(configDir, 'keys'),
    dataDir,
    nodeDir: join(dataDir, 'node'),
    auditDir: join(dataDir, 'audit'),
    reportsDir: join(dataDir, 'reports'),
    database: join(dataDir, 'medctl.db'),
    lockFile: join(home, 'medctl.lock'),
  }
}

/** Creates a directory (and parents) readable only by the owner. */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, {recursive: true, mode: 0o700})
  return dir
}

/**
 * A name that may become one path component under a directory medctl owns (identities, profiles):
 * lowercase letters, digits, "-" and "_", starting with a letter or digit, at most 64 characters.
 * No dots, no separators, so never "..", never absolute, never hidden.
 */
export const SAFE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

export function isSafeName(name: unknown): name is string {
  return typeof name === 'string' && SAFE_NAME.test(name)
}

export interface ContainOptions {
  /** What the name names, for the message ("identity", "profile"). */
  what: string
  /** The stable code to fail with (default E_BAD_NAME). Exit 2: the name came from input. */
  code?: string
}

function nameError(name: unknown, options: ContainOptions, why: string): MedctlError {
  return new MedctlError(options.code ?? 'E_BAD_NAME', `The ${options.what} name ${quoteInput(name)} ${why}.`, {
    exitCode: 2,
    suggestions: ['Names use lowercase letters, digits, "-" and "_" (at most 64), starting with a letter or digit.'],
  })
}

/**
 * The rule "a name read from input never becomes a path without being checked against the
 * directory it must stay in": checks `name` against SAFE_NAME, joins it to `dir`, verifies the
 * result is a direct child of `dir` and not a symbolic link, and returns it. Use it wherever a
 * name from a file, a flag or the network becomes a path.
 */
export function safeChildPath(dir: string, name: unknown, options: ContainOptions): string {
  if (!isSafeName(name)) throw nameError(name, options, 'is not a safe name')
  const path = resolveInside(dir, name, options)
  if (relative(resolve(dir), path).includes(sep)) throw nameError(name, options, 'is not a single path component')
  let link = false
  try {
    link = lstatSync(path).isSymbolicLink()
  } catch {
    // absent: fine
  }
  if (link) throw nameError(name, options, 'points at a symbolic link')
  return path
}

/**
 * Resolves a relative path read from input (a file name in a manifest, a member of an archive)
 * under `dir`, failing when it would land outside `dir` (absolute, `..`, or `dir` itself).
 * Unlike safeChildPath it allows dots and subdirectories.
 */
export function resolveInside(dir: string, relativePath: unknown, options: ContainOptions): string {
  if (typeof relativePath !== 'string' || relativePath === '' || relativePath.includes('\0'))
    throw nameError(relativePath, options, 'is not a usable path')
  if (isAbsolute(relativePath)) throw nameError(relativePath, options, 'is absolute')
  const root = resolve(dir)
  const path = resolve(root, relativePath)
  const rel = relative(root, path)
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw nameError(relativePath, options, 'leads outside its directory')
  return path
}
