import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {generateX25519Identity, identityToRecipient} from 'age-encryption'
import type {FhirResource} from '../../src/lib/fhir/index.js'
import {EmbeddedStore} from '../../src/lib/ipfs/index.js'
import {closeDatabases, openDatabase, type Db} from '../../src/lib/db/database.js'
import {importRecords, type ImportAuditEvent, type ImportOptions, type ImportResult} from '../../src/lib/vault/import.js'
import {readObject} from '../../src/lib/vault/read.js'
import {RecordIndex} from '../../src/lib/vault/record-index.js'

export interface Vault {
  dir: string
  db: Db
  custodian: {address: string; recipient: string; pseudonymKey: Buffer}
  audit: ImportAuditEvent[]
  report: string
  import(sources: string[], options?: Partial<ImportOptions>): Promise<ImportResult>
  /** Every resource stored, decrypted (what the vault holds). */
  stored(): Promise<FhirResource[]>
  jobs(): Array<{id: number; status: string}>
  reportLines(): Array<Record<string, unknown> & {code: string}>
  cleanup(): void
}

/** A custodian vault in a temp dir, driven in-process through the import service (no chain, no CLI). */
export async function freshVault(): Promise<Vault> {
  const dir = mkdtempSync(join(tmpdir(), 'medctl-vault-'))
  const db = openDatabase({database: join(dir, 'medctl.db')})
  const ageIdentity = await generateX25519Identity()
  const custodian = {
    address: `0x${randomBytes(20).toString('hex')}`,
    recipient: await identityToRecipient(ageIdentity),
    pseudonymKey: randomBytes(32),
  }
  const audit: ImportAuditEvent[] = []
  const report = join(dir, 'report.ndjson')
  const vault: Vault = {
    dir,
    db,
    custodian,
    audit,
    report,
    import: (sources, options = {}) =>
      importRecords({
        db,
        custodian,
        sources,
        reportPath: report,
        audit: async (event) => {
          audit.push(event)
        },
        ...options,
      }),
    async stored() {
      const index = new RecordIndex(db, custodian.address)
      const store = new EmbeddedStore(db)
      const all: FhirResource[] = []
      for (const object of index.objects())
        all.push(...(await readObject(store, object, index.envelope(object.cid, custodian.recipient) as Uint8Array, ageIdentity)))
      return all
    },
    jobs: () => db.prepare('SELECT id, status FROM jobs ORDER BY id').all() as Array<{id: number; status: string}>,
    reportLines() {
      let text = ''
      try {
        text = readFileSync(report, 'utf8')
      } catch {
        return []
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown> & {code: string})
    },
    cleanup() {
      closeDatabases()
      rmSync(dir, {recursive: true, force: true})
    },
  }
  return vault
}

/** A valid Patient (with an MRN) and a valid vital-signs Observation of it: the neighbours of every bad line. */
export function neighbours(tag: string): {patient: FhirResource; observation: FhirResource; lines: string[]} {
  const patient: FhirResource = {
    resourceType: 'Patient',
    id: `p-${tag}`,
    identifier: [
      {
        type: {coding: [{system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR'}]},
        system: 'http://hospital.example/mrn',
        value: `MRN-${tag}`,
      },
    ],
    name: [{family: 'Neighbour', given: [tag]}],
    birthDate: '1970-01-01',
  }
  const observation: FhirResource = {
    resourceType: 'Observation',
    id: `o-${tag}`,
    status: 'final',
    category: [{coding: [{system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs'}]}],
    code: {coding: [{system: 'http://loinc.org', code: '8867-4'}]},
    subject: {reference: `Patient/p-${tag}`},
    valueQuantity: {value: 70, unit: '/min'},
  }
  return {patient, observation, lines: [JSON.stringify(patient), JSON.stringify(observation)]}
}
