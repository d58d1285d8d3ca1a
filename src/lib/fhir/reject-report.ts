import {closeSync, fsyncSync, mkdirSync, openSync, writeSync} from 'node:fs'
import {dirname} from 'node:path'

/** One rejected input line or bundle entry, as written to an import's report. */
export interface RejectRecord {
  file: string
  line?: number
  entry?: number
  /** Inside a nested Bundle: the entry indexes from the outermost in ("3.1"). */
  entryPath?: string
  resourceType?: string
  id?: string
  code: string
  message: string
}

/** The rejects report: NDJSON, created on first reject, fsynced on close. */
export class RejectReport {
  private fd: number | undefined
  private written = false

  constructor(private readonly file: string | undefined) {}

  get path(): string | null {
    return this.written && this.file ? this.file : null
  }

  write(record: RejectRecord): void {
    if (!this.file) return
    if (this.fd === undefined) {
      mkdirSync(dirname(this.file), {recursive: true, mode: 0o700})
      this.fd = openSync(this.file, 'w', 0o600)
    }
    writeSync(this.fd, `${JSON.stringify(record)}\n`)
    this.written = true
  }

  close(): void {
    if (this.fd === undefined) return
    fsyncSync(this.fd)
    closeSync(this.fd)
    this.fd = undefined
  }
}
