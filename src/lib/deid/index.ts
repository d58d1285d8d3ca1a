export {deidentifyCohort, ageAt} from './cohort.js'
export type {CohortPatient, DeidentifiedPatient, DeidentifyCohortOptions, DeidentifyCohortResult} from './cohort.js'
export {deidentifyResource, partialDate, partialZip, rewriteReference} from './engine.js'
export type {EngineOptions, FhirResource, ResourceScope} from './engine.js'
export {
  AGE_90_PLUS,
  AGE_GROUP_EXTENSION_URL,
  DEFAULT_QUASI_IDENTIFIERS,
  GENDER,
  ZIP3,
  ageGroupOf,
  birthYearBand,
  birthYearOf,
  kAnonymize,
} from './kanon.js'
export type {KAnonReport, QuasiIdentifier} from './kanon.js'
export {cryptoHash, decryptValue, deriveExportKeys, encryptValue, pseudonymId} from './keys.js'
export type {ExportKeys} from './keys.js'
export {DEID_METHODS, builtinRulesPath, compileRules, loadBuiltinRules, loadRulesFile, parseRules} from './rules.js'
export type {CompiledRule, DeidMethod, FhirPathRule, LoadedRules, RuleFile, RuleParameters} from './rules.js'
