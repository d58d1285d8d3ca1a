import {parquetWriteBuffer} from 'hyparquet-writer'

import type {Table} from './tables.js'

/** A table as a Parquet file (hyparquet-writer, Snappy, one row group, no timestamps inside). */
export function tableToParquet(table: Table): Uint8Array {
  const columnData = table.columns.map((c, i) => ({
    name: c.name,
    type: c.type,
    nullable: true,
    data: table.rows.map((r) => (r[i] === undefined ? null : r[i])),
  }))
  const buf = parquetWriteBuffer({columnData, createdBy: 'medctl', kvMetadata: [{key: 'medctl.table', value: table.name}]})
  return new Uint8Array(buf)
}
