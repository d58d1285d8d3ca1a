#!/usr/bin/env node
// Compiles contracts/*.sol with the npm solc package into generated artifacts (abi + bytecode)
// under src/lib/chain/artifacts/ and dist/lib/chain/artifacts/. Never edit the output by hand.
// Skips the work when the sources and the compiler are unchanged.
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {contractTypes} from './contract-types.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const contractsDir = join(root, 'contracts')
const outputs = [join(root, 'src', 'lib', 'chain', 'artifacts'), join(root, 'dist', 'lib', 'chain', 'artifacts')]

// The contracts whose typed binding (scripts/contract-types.mjs) is committed, and where.
const TYPED = {ConsentRegistry: 'src/lib/chain/consent-registry.types.ts'}

const sources = Object.fromEntries(
  readdirSync(contractsDir)
    .filter((f) => f.endsWith('.sol'))
    .sort()
    .map((f) => [f, {content: readFileSync(join(contractsDir, f), 'utf8')}]),
)
const solcVersion = require('solc/package.json').version
// london: no PUSH0 or MCOPY, so the registry deploys on chains configured at the London fork or
// later — Besu/QBFT consortium networks (londonBlock in the genesis) among them.
const settings = {
  optimizer: {enabled: true, runs: 10_000},
  viaIR: true,
  evmVersion: 'london',
  outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}},
}
const hash = createHash('sha256').update(JSON.stringify({sources, solcVersion, settings})).digest('hex')
const stamp = (dir) => join(dir, '.sources.sha256')
if (outputs.every((dir) => existsSync(stamp(dir)) && readFileSync(stamp(dir), 'utf8') === hash)) process.exit(0)

const solc = require('solc')
const input = {
  language: 'Solidity',
  sources,
  settings,
}
function findImports(path) {
  try {
    return {contents: readFileSync(require.resolve(path), 'utf8')}
  } catch {
    return {error: `not found: ${path}`}
  }
}
const output = JSON.parse(solc.compile(JSON.stringify(input), {import: findImports}))
const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
for (const e of output.errors ?? []) process.stderr.write(`${e.formattedMessage}\n`)
if (errors.length > 0) process.exit(1)

for (const dir of outputs) mkdirSync(dir, {recursive: true})
for (const [file, contracts] of Object.entries(output.contracts).filter(([file]) => file in sources)) {
  for (const [name, artifact] of Object.entries(contracts)) {
    const json = `${JSON.stringify({contractName: name, sourceName: `contracts/${file}`, compiler: `solc ${solcVersion}`, abi: artifact.abi, bytecode: `0x${artifact.evm.bytecode.object}`}, null, 2)}\n`
    for (const dir of outputs) writeFileSync(join(dir, `${name}.json`), json)
    if (name in TYPED) {
      const types = contractTypes(name, artifact.abi)
      const file = join(root, TYPED[name])
      if (!existsSync(file) || readFileSync(file, 'utf8') !== types) writeFileSync(file, types)
    }
  }
}
for (const dir of outputs) writeFileSync(stamp(dir), hash)
process.stdout.write(`compiled ${Object.keys(sources).join(', ')} with solc ${solcVersion}\n`)
