/**
 * What a long-running service reports through its `onProgress` callback. Services never draw:
 * the CLI turns these events into a progress line on stderr (src/lib/cli/output.ts).
 */
export interface ProgressEvent {
  phase?: string
  done: number
  total?: number
  unit?: string
}
