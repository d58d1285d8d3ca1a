import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import Conf from 'conf'
import {MedctlError, fromSystemError, quoteInput, usageError} from '../core/errors.js'
import {ensurePrivateDir, isSafeName, type MedctlPaths} from './paths.js'

export type ProfileRole = 'custodian' | 'member'

export interface ChainSettings {
  /** true: the embedded anvil node under MEDCTL_HOME, started on demand. */
  embedded: boolean
  /** Fixed JSON-RPC URL for an external chain; for the embedded node it is known once it runs. */
  rpcUrl?: string
  chainId: number
  /** ConsentRegistry address, once deployed. */
  registry?: string
}

/** The network a joined profile belongs to (`medctl init --join`), as checked on chain when it joined. */
export interface NetworkMembership {
  name?: string
  chainId: number
  registry: string
  /** The registry's custodian, who admitted this member. */
  custodian: string
  deployedBlock: number
  joinedAt: string
}

export type StoreSettings = {type: 'embedded'} | {type: 'kubo'; url: string}

export interface Profile {
  name: string
  /** Name of the keystore identity under keys/. */
  identity: string
  role: ProfileRole
  chain: ChainSettings
  store: StoreSettings
  /** Optional Kubo node that `records upload` replicates to, even when the store is embedded. */
  kuboUrl?: string
  /** Set for a profile that joined a custodian's network (`init --join`). */
  network?: NetworkMembership
  /** When the custodian's audit log anchors its tree head by itself (`audit.anchorEvery`, `audit.anchorMinutes`). */
  audit?: {anchorEvery?: number; anchorMinutes?: number}
  createdAt: string
}

interface ProfilesFile {
  current?: string
  profiles: Record<string, Profile>
}

export const LOCAL_CHAIN_ID = 31337
const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,39}$/

export function validateProfileName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw usageError('E_BAD_PROFILE_NAME', `Profile names use lowercase letters, digits, "-" and "_" (at most 40): "${name}" is not one.`)
  }
}

/** Settings `profile set` may change, with their parsers. */
const SETTABLE: Record<string, (profile: Profile, value: string) => void> = {
  'chain.rpcUrl'(profile, value) {
    const url = parseUrl(value, 'chain.rpcUrl')
    profile.chain = {...profile.chain, rpcUrl: url, embedded: false}
  },
  'chain.embedded'(profile, value) {
    const embedded = parseBoolean(value, 'chain.embedded')
    profile.chain = {...profile.chain, embedded, ...(embedded ? {rpcUrl: undefined} : {})}
  },
  'chain.chainId'(profile, value) {
    const chainId = Number(value)
    if (!Number.isSafeInteger(chainId) || chainId <= 0) throw usageError('E_BAD_SETTING', 'chain.chainId must be a positive integer.')
    profile.chain = {...profile.chain, chainId}
  },
  'chain.registry'(profile, value) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw usageError('E_BAD_SETTING', 'chain.registry must be a 0x-prefixed 20-byte address.')
    profile.chain = {...profile.chain, registry: value}
  },
  'store.type'(profile, value) {
    if (value === 'embedded') profile.store = {type: 'embedded'}
    else if (value === 'kubo') {
      const url = profile.store.type === 'kubo' ? profile.store.url : profile.kuboUrl
      if (!url)
        throw usageError('E_BAD_SETTING', 'Set store.url (the Kubo RPC URL) before switching store.type to kubo.', [
          'medctl profile set store.url http://127.0.0.1:5001',
        ])
      profile.store = {type: 'kubo', url}
    } else throw usageError('E_BAD_SETTING', 'store.type is "embedded" or "kubo".')
  },
  'store.url'(profile, value) {
    const url = parseUrl(value, 'store.url')
    profile.kuboUrl = url
    if (profile.store.type === 'kubo') profile.store = {type: 'kubo', url}
  },
  'audit.anchorEvery'(profile, value) {
    const every = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(every) || every < 1)
      throw usageError('E_BAD_SETTING', 'audit.anchorEvery is a whole number of entries, at least 1.')
    profile.audit = {...profile.audit, anchorEvery: every}
  },
  'audit.anchorMinutes'(profile, value) {
    const minutes = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(minutes))
      throw usageError('E_BAD_SETTING', 'audit.anchorMinutes is a whole number of minutes (0: no time-based anchoring).')
    profile.audit = {...profile.audit, anchorMinutes: minutes}
  },
  role(profile, value) {
    if (value !== 'custodian' && value !== 'member') throw usageError('E_BAD_SETTING', 'role is "custodian" or "member".')
    profile.role = value
  },
}

export const SETTABLE_KEYS = Object.keys(SETTABLE)

function parseUrl(value: string, key: string): string {
  try {
    const url = new URL(value)
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme')
    return value
  } catch {
    throw usageError('E_BAD_SETTING', `${key} must be an http(s) URL.`)
  }
}

function parseBoolean(value: string, key: string): boolean {
  if (value === 'true') return true
  if (value === 'false') return false
  throw usageError('E_BAD_SETTING', `${key} is "true" or "false".`)
}

/** Profiles in one `conf` file (mode 0600) under the config dir. */
export class ProfileStore {
  private readonly conf: Conf<ProfilesFile>

  constructor(paths: MedctlPaths) {
    ensurePrivateDir(paths.configDir)
    const file = join(paths.configDir, 'profiles.json')
    checkProfilesFile(file)
    try {
      this.conf = new Conf<ProfilesFile>({
        cwd: paths.configDir,
        configName: 'profiles',
        projectName: 'medctl',
        projectSuffix: '',
        configFileMode: 0o600,
        defaults: {profiles: {}},
      })
    } catch (error) {
      throw fromSystemError(error, file) ?? corruptConfig(file, 'it cannot be read', error)
    }
  }

  /** Every write goes through here: a full disk is E_DISK_FULL (conf writes atomically). */
  private write(change: () => void): void {
    try {
      change()
    } catch (error) {
      throw fromSystemError(error, this.conf.path) ?? error
    }
  }

  get path(): string {
    return this.conf.path
  }

  list(): Profile[] {
    return Object.values(this.conf.get('profiles')).sort((a, b) => a.name.localeCompare(b.name))
  }

  currentName(): string | undefined {
    return this.conf.get('current')
  }

  find(name: string): Profile | undefined {
    // Own properties only: "__proto__" or "constructor" name no profile.
    const profiles = this.conf.get('profiles')
    return Object.hasOwn(profiles, name) ? profiles[name] : undefined
  }

  get(name: string): Profile {
    const profile = this.find(name)
    if (!profile) {
      throw new MedctlError('E_PROFILE_NOT_FOUND', `No profile named "${name}".`, {
        exitCode: 2,
        suggestions:
          this.list().length === 0
            ? ['Run `medctl init` to create the local profile.']
            : ['Run `medctl profile list` to see the profiles.'],
      })
    }
    return profile
  }

  /** The profile a command uses: the flag / MEDCTL_PROFILE value, else the current one. */
  resolve(requested?: string): Profile {
    const name = requested ?? this.currentName()
    if (!name) {
      throw new MedctlError('E_NO_PROFILE', 'No profile is selected and none was named.', {
        exitCode: 2,
        suggestions: ['Run `medctl init` to create the local profile.', 'Or pass --profile NAME (or set MEDCTL_PROFILE).'],
      })
    }
    return this.get(name)
  }

  add(profile: Profile): void {
    validateProfileName(profile.name)
    if (this.find(profile.name)) throw usageError('E_PROFILE_EXISTS', `A profile named "${profile.name}" already exists.`)
    this.write(() => {
      this.conf.set(`profiles.${profile.name}`, profile)
      if (!this.currentName()) this.conf.set('current', profile.name)
    })
  }

  save(profile: Profile): void {
    validateProfileName(profile.name)
    this.write(() => this.conf.set(`profiles.${profile.name}`, profile))
  }

  use(name: string): Profile {
    const profile = this.get(name)
    this.write(() => this.conf.set('current', name))
    return profile
  }

  set(name: string, key: string, value: string): Profile {
    const setter = SETTABLE[key]
    if (!setter) throw usageError('E_BAD_SETTING', `"${key}" is not a setting. Settings: ${SETTABLE_KEYS.join(', ')}.`)
    const profile = structuredClone(this.get(name))
    setter(profile, value)
    this.save(profile)
    return profile
  }

  delete(name: string): void {
    this.get(name)
    const profiles = {...this.conf.get('profiles')}
    delete profiles[name]
    this.write(() => {
      this.conf.set('profiles', profiles)
      if (this.currentName() === name) {
        // Never an arbitrary neighbour: the custodian (the profile `init` made) if there is one,
        // else the only profile left, else none — the command then says which is current.
        const left = Object.values(profiles)
        const next =
          left.find((p) => p.name === 'local' && p.role === 'custodian') ??
          left.find((p) => p.role === 'custodian') ??
          (left.length === 1 ? left[0] : undefined)
        if (next) this.conf.set('current', next.name)
        else this.conf.delete('current')
      }
    })
  }
}

function corruptConfig(file: string, why: string, cause?: unknown): MedctlError {
  return new MedctlError('E_CORRUPT_CONFIG', `The profiles file ${file} is damaged: ${why}.`, {
    cause,
    suggestions: [`Fix or restore ${file} (a backup, or delete it and run \`medctl init\` again; the keys under keys/ are kept).`],
    details: {file},
  })
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Validates profiles.json before `conf` reads it, so a damaged file is E_CORRUPT_CONFIG naming
 * the file (never E_UNEXPECTED), and names in it that become paths (identities) are safe names.
 */
export function checkProfilesFile(file: string): void {
  let raw: string
  try {
    raw = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw fromSystemError(error, file) ?? corruptConfig(file, 'it cannot be read', error)
  }
  if (raw.trim() === '') throw corruptConfig(file, 'it is empty')
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch (error) {
    throw corruptConfig(file, 'it is not JSON', error)
  }
  if (!isObject(data)) throw corruptConfig(file, 'it is not a JSON object')
  if (data.current !== undefined && typeof data.current !== 'string') throw corruptConfig(file, '"current" is not a profile name')
  if (data.profiles === undefined) return
  if (!isObject(data.profiles)) throw corruptConfig(file, '"profiles" is not an object')
  for (const [name, profile] of Object.entries(data.profiles)) {
    const label = `profile ${quoteInput(name)}`
    if (!NAME_PATTERN.test(name)) throw corruptConfig(file, `${label} does not have a valid name`)
    if (!isObject(profile) || profile.name !== name) throw corruptConfig(file, `${label} is not a profile`)
    if (!isSafeName(profile.identity)) throw corruptConfig(file, `${label} names an unsafe identity ${quoteInput(profile.identity)}`)
    if (!isObject(profile.chain) || !Number.isSafeInteger(profile.chain.chainId) || typeof profile.chain.embedded !== 'boolean')
      throw corruptConfig(file, `${label} has no valid chain`)
    if (!isObject(profile.store) || (profile.store.type !== 'embedded' && profile.store.type !== 'kubo'))
      throw corruptConfig(file, `${label} has no valid store`)
    if (profile.role !== 'custodian' && profile.role !== 'member') throw corruptConfig(file, `${label} has no valid role`)
    if (
      profile.network !== undefined &&
      (!isObject(profile.network) ||
        !Number.isSafeInteger(profile.network.chainId) ||
        typeof profile.network.registry !== 'string' ||
        typeof profile.network.custodian !== 'string')
    ) {
      throw corruptConfig(file, `${label} has no valid network`)
    }
  }
}
