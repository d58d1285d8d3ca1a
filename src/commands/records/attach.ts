import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../../lib/cli/base-command.js'
import {classOption} from '../../lib/cli/domain-flags.js'
import {profileFlag} from '../../lib/cli/flags.js'
import {renderFields} from '../../lib/cli/output.js'
import type {AttachResult} from '../../lib/vault/attach.js'
import {attachRecordFile} from '../../lib/vault/use-cases.js'

export default class RecordsAttach extends BaseCommand<typeof RecordsAttach> {
  static override summary = "Attach a large file (a DICOM study, an MRI series as a zip) to a patient's record, encrypted as it streams."
  static override description = `The file is read as a stream, encrypted with age (STREAM, 64 KiB chunks; any \`age\` tool decrypts it with its object key) under a fresh object key, and stored as a chunked UnixFS DAG (256 KiB blocks) in this home's blocks: memory stays bounded whatever the size. A FHIR R4 DocumentReference links it to the patient and is imported into their record under --class like any resource: content.attachment has the contentType, the size (when under 2 GiB, R4's limit), the hash (SHA-1, base64, as R4 defines it) and the title; the SHA-256, the exact size and the CID of the stored ciphertext are extensions (https://medctl.dev/fhir/StructureDefinition/attachment-sha256, -size, -cid). The attachment is shared, fetched (\`records fetch\` writes it back to a file, SHA-256 checked), uploaded and erased with the patient's other objects of that class.

Attaching the same file to the same patient and class again stores nothing and returns the same DocumentReference (created: false). The attach is audited (CIDs, class and size; never the file name or its hash) and the log is anchored.

Exit codes: 0 ok, 1 failure (E_FILE_CHANGED: the file changed while it was read), 2 usage error: missing file (E_FILE_NOT_FOUND), unknown class (E_BAD_CLASS), unknown patient (E_PATIENT_NOT_FOUND) or erased patient (E_ERASED).`

  static override examples = [
    '<%= config.bin %> records attach mri-series.zip --patient "http://hospital.example/mrn|12345" --class imaging',
    '<%= config.bin %> records attach study.dcm --patient "http://hospital.example/mrn|12345" --class imaging --content-type application/dicom --json | jq -r .result.documentReference',
  ]

  static override flags = {
    profile: profileFlag,
    patient: Flags.string({description: 'The patient, as system|value (imported before).', required: true}),
    class: classOption({description: 'The data class the DocumentReference (and so the file) belongs to, e.g. imaging.', required: true}),
    'content-type': Flags.string({
      description: "The file's MIME type (default: guessed from its extension, else application/octet-stream).",
    }),
    'no-anchor': Flags.boolean({description: "Do not anchor the audit log's tree head on chain afterwards."}),
  }

  static override args = {file: Args.string({description: 'The file to attach.', required: true})}

  async run(): Promise<AttachResult> {
    const session = this.openSession(this.flags.profile)
    const progress = this.progress()
    const result = await attachRecordFile(session, {
      file: this.args.file,
      patient: this.flags.patient,
      dataClass: this.flags.class,
      ...(this.flags['content-type'] ? {contentType: this.flags['content-type']} : {}),
      anchor: !this.flags['no-anchor'],
      onProgress: progress.update,
    })
    progress.finish()
    this.log(
      renderFields({
        documentReference: result.documentReference,
        class: result.class,
        cid: result.cid,
        bytes: result.size,
        sha256: result.sha256,
        'content-type': result.contentType,
        ...(result.created ? {} : {note: 'attached before: nothing new stored'}),
      }),
    )
    return result
  }
}
