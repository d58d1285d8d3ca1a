import {Flags} from '@oclif/core'
import {DATA_CLASSES, isDataClass, type DataClass} from '../fhir/data-classes.js'
import {usageError} from './errors.js'

/** `--classes labs,vitals`: a comma-separated list of data classes, validated. */
export const classesOption = Flags.custom<DataClass[]>({
  description: `Data classes, comma-separated: ${DATA_CLASSES.join(', ')}.`,
  async parse(input) {
    const classes = input.split(',').map((c) => c.trim()).filter(Boolean)
    const unknown = classes.filter((c) => !isDataClass(c))
    if (unknown.length > 0 || classes.length === 0) throw usageError('E_BAD_CLASS', `Unknown data class. Classes: ${DATA_CLASSES.join(', ')}.`)
    return [...new Set(classes)] as DataClass[]
  },
})

export const classesFlag = classesOption()
