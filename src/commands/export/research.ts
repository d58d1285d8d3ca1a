import {Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {classesFlag} from '../../lib/cli/domain-flags.js'
import {renderFields} from '../../lib/cli/output.js'
import {granteeAddress} from '../../lib/consent/context.js'
import {DATASET_FORMATS, type DatasetFormat} from '../../lib/export/index.js'
import {exportResearch, type ResearchResult} from '../../lib/export/research.js'
import {custodianContext} from '../../lib/vault/custodian.js'

export default class ExportResearch extends BaseCommand<typeof ExportResearch> {
  static override summary = 'Export a de-identified, k-anonymous dataset of the patients who consented to this research.'
  static override description = `The cohort is decided per class at the pinned block (--at-block, default the latest): each patient contributes exactly the requested classes (--classes, default the clinical record without notes and claims) whose decision for (researcher, HRESCH, class) is Permit; Deny always wins. A patient who granted labs only is in the labs table and in patients (with just the quasi-identifiers, unless they granted demographics), nowhere else. The result counts, overall and per class, who is in and who was excluded and why. Tables are written only for the requested classes. Demographics are always part of the request (k-anonymity needs them). Records are decrypted in memory only, de-identified with the rules (HIPAA Safe Harbor by default, or a rule file), patients in quasi-identifier classes smaller than k are suppressed, and the files are written as NDJSON (FHIR R4), CSV or Parquet tables with a manifest.json signed by the custodian. Row ids are per-export pseudonyms. With the same inputs, rules, block and --key-file the files are byte-identical. The export is written to the audit log.

With --deliver-to (the researcher again, by address or local profile name) the export is also delivered to the lab: the manifest and every file it lists are age-encrypted to the lab's recipient from the on-chain key directory and sealed in a package like an access package, written to the CARv1 file --deliver-out or, without it, to the profile's content store (its CID is printed). The release is audited as a key release to the lab. The lab receives and checks it in its own home with \`medctl export verify FILE.car|CID --out DIR\`.

Exit codes: 0 ok, 1 failure (E_NO_RECIPIENT: the lab published no age recipient; E_STORE_UNAVAILABLE), 2 usage error (output not empty, bad rules, bad key file, --deliver-to not the grantee: E_DELIVER_NOT_GRANTEE), 3 nothing to export: no consenting patient (E_EMPTY_COHORT) or k-anonymity suppressed everyone (E_K_SUPPRESSED_ALL); nothing is written unless --allow-empty.`

  static override examples = [
    '<%= config.bin %> export research --grantee lab --purpose HRESCH --out study-42 --format parquet',
    '<%= config.bin %> export research --grantee lab --out study-42 --format csv --deliver-to lab --deliver-out study-42.car',
    '<%= config.bin %> export research --grantee 0xAbc… --classes labs,vitals --k 5 --at-block 1200 --key-file export.key --out study-42 --format csv --json',
  ]

  static override flags = {
    profile: profileFlag,
    grantee: Flags.string({description: 'The researcher: an address or a local profile name.', required: true}),
    purpose: Flags.string({description: 'Purpose of use (research).', options: ['HRESCH'], default: 'HRESCH'}),
    classes: classesFlag,
    out: Flags.string({description: 'Output directory (must be empty unless --force).', required: true}),
    format: Flags.string({description: 'Dataset format.', options: [...DATASET_FORMATS], default: 'ndjson'}),
    rules: Flags.string({description: 'De-identification rules: "safe-harbor" or a rule file.', default: 'safe-harbor'}),
    k: Flags.integer({description: 'k-anonymity threshold over the quasi-identifiers.', default: 5, min: 1}),
    'quasi-identifiers': Flags.string({
      description: 'Comma-separated: birth-year[:WIDTH], gender, zip3 (default: birth-year:10,gender,zip3).',
    }),
    'at-block': Flags.integer({description: 'Pin the consent decisions to this block.', min: 0}),
    'key-file': Flags.string({
      description: 'File with the per-export key (64 hex digits) for reproducible pseudonyms; default: a fresh random key.',
    }),
    force: Flags.boolean({description: 'Write into a non-empty output directory.'}),
    'allow-empty': Flags.boolean({
      description: 'Write the export (with a warning) even when the cohort, or what k-anonymity leaves of it, is empty.',
    }),
    'deliver-to': Flags.string({
      description: 'Deliver the export, encrypted, to this researcher (address or local profile name; must be the grantee).',
    }),
    'deliver-out': Flags.string({
      description: "Write the delivery to this CARv1 file (default: the profile's content store).",
      dependsOn: ['deliver-to'],
    }),
  }

  async run(): Promise<ResearchResult> {
    const session = this.openSession(this.flags.profile)
    const custodian = await custodianContext(session)
    const progress = this.progress()
    const result = await exportResearch(session, custodian, {
      grantee: granteeAddress(session, this.flags.grantee),
      classes: this.flags.classes,
      outDir: this.flags.out,
      format: this.flags.format as DatasetFormat,
      rules: this.flags.rules,
      k: this.flags.k,
      quasiIdentifiers: this.flags['quasi-identifiers']
        ?.split(',')
        .map((q) => q.trim())
        .filter(Boolean),
      atBlock: this.flags['at-block'],
      keyFile: this.flags['key-file'],
      force: this.flags.force,
      allowEmpty: this.flags['allow-empty'],
      deliverTo: this.flags['deliver-to'],
      deliverOut: this.flags['deliver-out'],
      onProgress: progress.update,
    })
    progress.finish()
    for (const w of result.warnings) this.warn(w)
    const excluded = Object.entries(result.cohort.excluded)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ')
    const perClass = Object.entries(result.cohort.byClass)
      .map(([c, v]) => `${c} ${v.included}`)
      .join(', ')
    this.log(
      renderFields({
        out: result.outDir,
        block: result.block,
        consenting: result.cohort.included,
        'per class': perClass,
        excluded: excluded || 'none',
        'k-suppressed': result.suppressed,
        'max risk': result.maxRisk,
        files: result.files.map((f) => `${f.path} (${f.rows})`).join(', '),
        manifest: result.manifest,
        ...(result.delivery
          ? {
              delivered: `${result.delivery.files} files to ${result.delivery.to}: ${result.delivery.car ? result.delivery.car.out : `${result.delivery.delivery} store`}, package ${result.delivery.packageCid}`,
            }
          : {}),
      }),
    )
    return result
  }
}
