export {DATASET_FORMATS, renderDataset, writeDataset, writeManifest} from './dataset.js'
export type {DatasetFormat, RenderedFile, WriteDatasetOptions} from './dataset.js'
export {csvField, csvLine, neutraliseCsvCell, tableToCsv} from './csv.js'
export {tableToParquet} from './parquet.js'
export {resourcesByType, toNdjson} from './ndjson.js'
export {SQL_TYPES, TABLE_CLASSES, TABLE_COLUMNS, TABLE_NAMES, buildTables, schemaSql, tableSchema, tablesFor} from './tables.js'
export type {Cell, Column, ColumnType, Table, TableName} from './tables.js'
export {
  buildManifest,
  manifestSigningBytes,
  manifestToJson,
  sha256Hex,
  signManifest,
  verifyManifestFiles,
  verifyManifestSignature,
} from './manifest.js'
export type {BuildManifestOptions, Manifest, ManifestFile, SignFn, VerifyFn} from './manifest.js'
