import {existsSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'
import {MedctlError} from '../core/errors.js'

export interface Artifact {
  contractName: string
  abi: unknown[]
  bytecode: string
}

const cache = new Map<string, Artifact>()

/** A contract compiled by `npm run build` (scripts/compile-contracts.mjs), from src/ or dist/. */
export function loadArtifact(name: string): Artifact {
  const cached = cache.get(name)
  if (cached) return cached
  const path = fileURLToPath(new URL(`./artifacts/${name}.json`, import.meta.url))
  if (!existsSync(path)) {
    throw new MedctlError('E_ARTIFACT_MISSING', `The compiled contract ${name} is missing.`, {
      suggestions: ['Run `npm run build` (it compiles contracts/ with solc).'],
    })
  }
  const artifact = JSON.parse(readFileSync(path, 'utf8')) as Artifact
  cache.set(name, artifact)
  return artifact
}
