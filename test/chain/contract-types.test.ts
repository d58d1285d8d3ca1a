import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {repoRoot} from '../helpers/cli.js'

// The generator is a build script (plain ESM): loaded as such.
const {contractTypes} = (await import(join(repoRoot, 'scripts', 'contract-types.mjs'))) as {
  contractTypes: (name: string, abi: unknown[]) => string
}

describe('typed contract binding (scripts/contract-types.mjs)', () => {
  it('the committed binding is what the compiled ABI generates (no drift after a contract change)', () => {
    const artifact = JSON.parse(readFileSync(join(repoRoot, 'src', 'lib', 'chain', 'artifacts', 'ConsentRegistry.json'), 'utf8')) as {
      abi: unknown[]
    }
    const committed = readFileSync(join(repoRoot, 'src', 'lib', 'chain', 'consent-registry.types.ts'), 'utf8')
    expect(committed).toBe(contractTypes('ConsentRegistry', artifact.abi))
  })

  it('types inputs as ethers accepts them and outputs as it decodes them', () => {
    const abi = [
      {
        type: 'function',
        name: 'get',
        stateMutability: 'view',
        inputs: [
          {name: 'who', type: 'address'},
          {name: 'ids', type: 'uint256[]'},
        ],
        outputs: [
          {name: 'ok', type: 'bool'},
          {name: 'amount', type: 'uint64'},
        ],
      },
      {
        type: 'function',
        name: 'put',
        stateMutability: 'nonpayable',
        inputs: [
          {
            name: 's',
            type: 'tuple',
            components: [
              {name: 'key', type: 'bytes32'},
              {name: 'n', type: 'uint8'},
            ],
          },
        ],
        outputs: [],
      },
      {type: 'event', name: 'Put', inputs: []},
    ]
    const source = contractTypes('Box', abi)
    expect(source).toContain(
      '  get: ContractMethod<[who: string, ids: Array<BigNumberish>], [ok: boolean, amount: bigint], [ok: boolean, amount: bigint]>',
    )
    expect(source).toContain('  put: ContractMethod<[s: {key: BytesLike; n: BigNumberish}], void, ContractTransactionResponse>')
    expect(source).toContain('export type Box = BaseContract & BoxFunctions')
    expect(source).not.toContain('Put')
  })

  it('refuses what it cannot bind: overloads and unknown ABI types', () => {
    const f = (name: string, type = 'uint8') => ({
      type: 'function',
      name,
      stateMutability: 'view',
      inputs: [{name: 'x', type}],
      outputs: [],
    })
    expect(() => contractTypes('X', [f('a'), f('a', 'address')])).toThrow(/overloaded function a/)
    expect(() => contractTypes('X', [f('a', 'fixed128x18')])).toThrow(/no TypeScript type for ABI type fixed128x18/)
  })
})
