import {mkdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

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
  return {
    home: medctlHome || configDir,
    configDir,
    keysDir: join(configDir, 'keys'),
    dataDir,
    nodeDir: join(dataDir, 'node'),
    auditDir: join(dataDir, 'audit'),
    reportsDir: join(dataDir, 'reports'),
    database: join(dataDir, 'medctl.db'),
  }
}

/** Creates a directory (and parents) readable only by the owner. */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, {recursive: true, mode: 0o700})
  return dir
}
