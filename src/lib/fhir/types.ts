export interface FhirResource {
  resourceType: string
  id?: string
  [element: string]: unknown
}

/** Where an input item came from: a file and its line (NDJSON, CSV) or bundle entry index. */
export interface Location {
  file: string
  line?: number
  entry?: number
  /** Inside a nested Bundle: the entry indexes from the outermost in, dot-separated ("3.1"). */
  entryPath?: string
}

export type InputItem =
  | {
      kind: 'resource'
      resource: FhirResource
      location: Location
      key: string
      /** Set when validated on a thread: the resource serialised, and the SHA-256 (hex) of its canonical JSON (RFC 8785). */
      json?: string
      digest?: string
    }
  | {kind: 'reject'; location: Location; resourceType?: string; id?: string; code: string; message: string}
