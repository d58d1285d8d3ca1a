import type {AuditEntry} from './entry.js'

/**
 * Write-ahead audit: a use case appends an `intent` entry before it acts (commits records, writes
 * plaintext) and an outcome after. An intent with no outcome later in the log marks an act a crash
 * interrupted: the verifier reports it (the log itself may be intact).
 */
export interface OpenIntent {
  index: number
  type: string
  /** The import job the intent belongs to, when it is an import batch. */
  job?: number
}

type Detail = Record<string, unknown> | undefined

export class IntentTracker {
  private readonly open = new Map<string, OpenIntent>()

  observe(entry: AuditEntry, index: number): void {
    const detail = entry.detail as Detail
    const phase = detail?.phase
    if (phase === undefined) return
    if (entry.type === 'import') {
      const job = Number(detail?.job ?? 0)
      if (phase === 'intent') this.open.set(`import:${job}:${String(detail?.batch ?? index)}`, {index, type: 'import', job})
      else if (phase === 'finished' || phase === 'failed')
        for (const key of [...this.open.keys()]) if (key.startsWith(`import:${job}:`)) this.open.delete(key)
      return
    }
    const key = `${entry.type}:${entry.actor?.address ?? ''}:${entry.subject ?? ''}:${entry.consentId ?? ''}`
    if (phase === 'intent') this.open.set(key, {index, type: entry.type})
    else this.open.delete(key)
  }

  /** Intents no outcome followed, oldest first. */
  unmatched(): OpenIntent[] {
    return [...this.open.values()].sort((a, b) => a.index - b.index)
  }
}
