/**
 * Import benchmark: Synthea-shaped Bulk Data NDJSON through the real pipeline (validate, group,
 * age-encrypt, UnixFS blocks + index in SQLite), against a bare JSON.parse of the same lines.
 *
 *   node --import tsx bench/import/run.ts [--patients 1000] [--per-patient 60]
 */
import {mkdtempSync, readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {Keystore} from '../../src/lib/config/keystore.js'
import {resolvePaths} from '../../src/lib/config/paths.js'
import {loadDefinitions} from '../../src/lib/fhir/index.js'
import {closeDatabases, openDatabase} from '../../src/lib/db/database.js'
import {importRecords} from '../../src/lib/vault/import.js'
import {generate} from './generate.js'

const {values} = parseArgs({options: {patients: {type: 'string', default: '1000'}, 'per-patient': {type: 'string', default: '60'}}})
const work = mkdtempSync(join(tmpdir(), 'medctl-bench-import-'))
process.env.MEDCTL_KDF_LOGN = '11'
try {
  const input = join(work, 'ndjson')
  const generated = await generate({patients: Number(values.patients), perPatient: Number(values['per-patient']), out: input, seed: 1})
  const files = readdirSync(input).map((f) => join(input, f))
  const bytes = files.reduce((sum, f) => sum + statSync(f).size, 0)

  let t = performance.now()
  let parsed = 0
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue
      JSON.parse(line)
      parsed++
    }
  }
  const parseSeconds = (performance.now() - t) / 1000

  const paths = resolvePaths({env: {MEDCTL_HOME: join(work, 'home')}})
  const keystore = new Keystore(paths)
  await keystore.generate('bench', 'bench-passphrase', {pseudonymKey: true})
  const identity = await keystore.unlock('bench', 'bench-passphrase')
  loadDefinitions()
  let peakRss = process.memoryUsage().rss
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50)
  t = performance.now()
  const result = await importRecords({
    db: openDatabase(paths),
    custodian: {address: identity.address, recipient: identity.recipient, pseudonymKey: identity.pseudonymKey as Buffer},
    sources: [input],
  })
  const importSeconds = (performance.now() - t) / 1000
  clearInterval(sampler)
  closeDatabases()

  console.log(`input: ${generated.resources} resources, ${(bytes / 1e6).toFixed(1)} MB NDJSON, ${values.patients} patients`)
  console.log(`imported: ${result.imported}, objects: ${result.objects}, rejected: ${result.rejected}`)
  console.log(
    `import: ${importSeconds.toFixed(2)} s, ${(result.read / importSeconds).toFixed(0)} resources/s, ${(bytes / 1e6 / importSeconds).toFixed(2)} MB/s`,
  )
  console.log(
    `JSON.parse alone: ${parseSeconds.toFixed(3)} s for ${parsed} lines; import / parse = ${(importSeconds / parseSeconds).toFixed(1)}x`,
  )
  console.log(`peak RSS: ${(peakRss / 1024 / 1024).toFixed(0)} MiB`)
} finally {
  rmSync(work, {recursive: true, force: true})
}
