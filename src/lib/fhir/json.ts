import {isWellFormed, type LineProblem} from './lines.js'

/**
 * The deepest nesting of arrays and objects a resource may have. FHIR resources (Bundles of
 * QuestionnaireResponses included) stay far below it; anything deeper would overflow the stack of
 * the validator, the serialiser or the reference rewriter, so it is rejected before they see it.
 */
export const MAX_JSON_DEPTH = 100

/** JSON.parse, with a message that names the position only: never the text (it may be a patient's record). */
export function parseJson(text: string): {value: unknown; problem?: undefined} | {value?: undefined; problem: LineProblem} {
  try {
    return {value: JSON.parse(text) as unknown}
  } catch (error) {
    const message = (error as Error)?.message ?? ''
    const position = /at position (\d+)/.exec(message)?.[1]
    const end = /end of (JSON )?input/i.test(message)
    return {
      problem: {
        code: 'E_INVALID_JSON',
        message: `Not valid JSON${end ? ': the text ends early' : position === undefined ? '' : ` at character ${position}`}.`,
      },
    }
  }
}

/**
 * What makes a parsed value unsafe to process: nesting deeper than MAX_JSON_DEPTH, or a string
 * (key or value) with a lone surrogate, which UTF-8 cannot hold (it would be stored as U+FFFD).
 * Iterative, so the check itself never overflows the stack.
 */
export function shapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): LineProblem | undefined {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number]
    if (typeof node === 'string') {
      if (!isWellFormed(node))
        return {
          code: 'E_INVALID_UNICODE',
          message: 'A string holds a lone surrogate (\\uD800-\\uDFFF escape without its pair): not storable as UTF-8.',
        }
      continue
    }
    if (!node || typeof node !== 'object') continue
    if (depth >= maxDepth) return {code: 'E_TOO_DEEP', message: `Arrays and objects are nested more than ${maxDepth} levels deep.`}
    if (Array.isArray(node)) {
      for (const item of node) stack.push([item, depth + 1])
      continue
    }
    for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
      if (!isWellFormed(key)) return {code: 'E_INVALID_UNICODE', message: 'A property name holds a lone surrogate: not storable as UTF-8.'}
      stack.push([item, depth + 1])
    }
  }
  return undefined
}

/** Parses and checks one JSON text: the value, or the problem (E_INVALID_JSON, E_TOO_DEEP, E_INVALID_UNICODE). */
export function parseSafeJson(text: string): {value: unknown; problem?: undefined} | {value?: undefined; problem: LineProblem} {
  const parsed = parseJson(text)
  if (parsed.problem) return parsed
  const problem = shapeProblem(parsed.value)
  return problem ? {problem} : parsed
}

/** The FHIR id syntax (R4 `id` datatype). */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/

export function isFhirId(value: unknown): value is string {
  return typeof value === 'string' && FHIR_ID.test(value)
}
