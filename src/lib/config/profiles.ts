import Conf from 'conf'
import {MedctlError, usageError} from '../cli/errors.js'
import {ensurePrivateDir, type MedctlPaths} from './paths.js'

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
      if (!url) throw usageError('E_BAD_SETTING', 'Set store.url (the Kubo RPC URL) before switching store.type to kubo.', ['medctl profile set store.url http://127.0.0.1:5001'])
      profile.store = {type: 'kubo', url}
    } else throw usageError('E_BAD_SETTING', 'store.type is "embedded" or "kubo".')
  },
  'store.url'(profile, value) {
    const url = parseUrl(value, 'store.url')
    profile.kuboUrl = url
    if (profile.store.type === 'kubo') profile.store = {type: 'kubo', url}
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
    this.conf = new Conf<ProfilesFile>({
      cwd: paths.configDir,
      configName: 'profiles',
      projectName: 'medctl',
      projectSuffix: '',
      configFileMode: 0o600,
      defaults: {profiles: {}},
    })
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
    return this.conf.get('profiles')[name]
  }

  get(name: string): Profile {
    const profile = this.find(name)
    if (!profile) {
      throw new MedctlError('E_PROFILE_NOT_FOUND', `No profile named "${name}".`, {
        exitCode: 2,
        suggestions: this.list().length === 0 ? ['Run `medctl init` to create the local profile.'] : ['Run `medctl profile list` to see the profiles.'],
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
    this.conf.set(`profiles.${profile.name}`, profile)
    if (!this.currentName()) this.conf.set('current', profile.name)
  }

  save(profile: Profile): void {
    this.conf.set(`profiles.${profile.name}`, profile)
  }

  use(name: string): Profile {
    const profile = this.get(name)
    this.conf.set('current', name)
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
    this.conf.set('profiles', profiles)
    if (this.currentName() === name) {
      const next = Object.keys(profiles).sort()[0]
      if (next) this.conf.set('current', next)
      else this.conf.delete('current')
    }
  }
}
