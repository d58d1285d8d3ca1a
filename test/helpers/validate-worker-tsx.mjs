// The validation thread when medctl runs from its TypeScript sources (vitest, tsx): registers tsx
// in this thread, then loads the worker. An installed medctl runs dist/lib/fhir/validate-worker.js
// and never this file (tsx is a devDependency).
import {register} from 'tsx/esm/api'

register()
await import('../../src/lib/fhir/validate-worker.ts')
