import {createHash} from 'node:crypto'
import {parentPort} from 'node:worker_threads'
import {MedctlError} from '../core/errors.js'
import {canonicalJson} from './canonical-json.js'
import type {FhirResource} from './types.js'
import {loadDefinitions, validateFhir} from './validate.js'
import {generatedValidators, loadValidators} from './validate-fast.js'
import type {ValidationReply, ValidationRequest} from './validate-pool.js'

/**
 * A validation thread: receives batches of serialised resources (already reference-rewritten by
 * the reader), validates each against FHIR R4 and digests its canonical JSON. Pure: no state
 * survives a resource, so the results do not depend on which thread ran them.
 */
// Built, the definitions load type by type as resources need them; from the sources the schema
// is compiled here, which needs them all first.
if (!generatedValidators()) loadDefinitions()
loadValidators()
parentPort?.on('message', (request: ValidationRequest) => {
  const replies: ValidationReply[] = request.jsons.split('\n').map((json) => {
    try {
      const resource = JSON.parse(json) as FhirResource
      const problem = validateFhir(resource)
      if (problem) return {problem}
      return {
        digest: createHash('sha256').update(canonicalJson(resource)).digest('hex'),
      }
    } catch (error) {
      // The same codes the reader's guard gives an exception thrown by the work on one value.
      const code = error instanceof MedctlError ? error.code : error instanceof RangeError ? 'E_TOO_COMPLEX' : 'E_UNPROCESSABLE'
      return {thrown: code}
    }
  })
  parentPort?.postMessage({id: request.id, replies})
})
