import {Flags} from '@oclif/core'
import {DATA_CLASSES, isDataClass, type DataClass} from '../fhir/data-classes.js'
import {usageError} from '../core/errors.js'

/** `--classes labs,vitals`: a comma-separated list of data classes, validated. */
export const classesOption = Flags.custom<DataClass[]>({
  description: `Data classes, comma-separated: ${DATA_CLASSES.join(', ')}.`,
  async parse(input) {
    const classes = input
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean)
    const unknown = classes.filter((c) => !isDataClass(c))
    if (classes.length === 0) throw usageError('E_BAD_CLASS', `--classes is empty. Classes: ${DATA_CLASSES.join(', ')}.`)
    if (unknown.length > 0)
      throw usageError('E_BAD_CLASS', `Unknown data class ${unknown.map(shownValue).join(', ')}. Classes: ${DATA_CLASSES.join(', ')}.`)
    return [...new Set(classes)] as DataClass[]
  },
})

export const classesFlag = classesOption()

/** A value from argv, shown only when it is a short plain word (never a path, a secret or PHI). */
export function shownValue(value: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]{0,23}$/.test(value) ? `"${value}"` : '(a value that is not a class name)'
}

/** `--class imaging`: one data class, validated (E_BAD_CLASS, exit 2). */
export const classOption = Flags.custom<DataClass>({
  description: `Data class: ${DATA_CLASSES.join(', ')}.`,
  async parse(input) {
    const value = input.trim()
    if (!isDataClass(value))
      throw usageError('E_BAD_CLASS', `Unknown data class ${shownValue(value)}. Classes: ${DATA_CLASSES.join(', ')}.`)
    return value
  },
})
