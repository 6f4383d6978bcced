/**
 * Parquet in and out. Writing uses hyparquet-writer's incremental ParquetWriter, flushed to a
 * local file row group by row group (bounded memory, smallest files among the writers measured,
 * read back exactly by DuckDB); reading uses hyparquet one row group at a time, columnar.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { snappyCompress } from './snappy.js';

/** Logical column types the pipeline stores. Timestamps are epoch milliseconds (UTC). */
export type ColumnType = 'string' | 'int' | 'float' | 'timestamp' | 'bool';
export interface ColumnDef {
  name: string;
  type: ColumnType;
}
export type Value = string | number | boolean | null;
/** Columnar batch: column name -> values; every column has the same length. */
export type Columns = Record<string, Value[]>;

const IDLE_BUFFER_BYTES = 64 * 1024;

type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

function schemaElement(column: ColumnDef): SchemaElement {
  const base = { name: column.name, repetition_type: 'OPTIONAL' as const };
  switch (column.type) {
    case 'string':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8' };
    case 'int':
      return { ...base, type: 'INT64' };
    case 'float':
      return { ...base, type: 'DOUBLE' };
    case 'bool':
      return { ...base, type: 'BOOLEAN' };
    case 'timestamp':
      return {
        ...base,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
      };
  }
}

/**
 * hyparquet-writer's first test of a text column for dictionary encoding (same sample, same
 * rule): a column it keeps as candidate stays text, so its dictionary is built by a Map of
 * strings; a column it rejects is plain-encoded and gets pre-encoded below.
 */
function mayUseDictionary(values: readonly Value[]): boolean {
  const sampleSize = Math.min(values.length, 1000);
  const seen = new Set<string>();
  let distinctBytes = 0;
  let totalBytes = 0;
  for (let i = 0; i < sampleSize; i++) {
    const v =
      values[sampleSize === 1 ? 0 : Math.floor((i * (values.length - 1)) / (sampleSize - 1))];
    if (typeof v !== 'string') continue;
    const size = v.length + 4;
    totalBytes += size;
    if (!seen.has(v)) {
      seen.add(v);
      distinctBytes += size;
    }
  }
  return totalBytes > 0 && distinctBytes / totalBytes <= 0.9;
}

/**
 * Values as the writer stores them. Text of a plain-encoded column goes in as UTF-8 Buffers:
 * hyparquet-writer would call TextEncoder.encode per value, a new ArrayBuffer each (upload spent
 * 17% of its CPU there and as much again collecting them), where Buffer.from fills slices of a
 * shared pool. The bytes written are the same.
 */
function physical(column: ColumnDef, values: Value[]): unknown[] {
  if (column.type === 'string') {
    if (mayUseDictionary(values)) return values;
    return values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  }
  if (column.type !== 'int') return values;
  return values.map((v) => (v === null ? null : BigInt(v as number)));
}

/**
 * Writes one Parquet file to `path`, a batch at a time.
 * @example
 * const w = new ParquetFileWriter('/tmp/x.parquet', [{ name: 'id', type: 'int' }]);
 * w.write({ id: [1, 2] }); const { rows, bytes } = w.close();
 */
export class ParquetFileWriter {
  private readonly fd: number;
  private readonly writer: ParquetWriter;
  private bytes = 0;
  rows = 0;

  constructor(
    readonly path: string,
    readonly schema: readonly ColumnDef[],
    options: {
      rowGroupSize?: number;
      /**
       * Min/max per column chunk, for readers that skip row groups (default on). Off saves the
       * comparisons on files only ever read whole (raw/).
       */
      statistics?: boolean;
    } = {},
  ) {
    this.fd = openSync(path, 'w');
    const byteWriter = new ByteWriter();
    const flushAt = 4 * 1024 * 1024;
    const flush = (): void => {
      if (byteWriter.index === 0) return;
      writeSync(this.fd, new Uint8Array(byteWriter.buffer, 0, byteWriter.index));
      this.bytes += byteWriter.index;
      byteWriter.index = 0;
    };
    const grow = byteWriter.ensure.bind(byteWriter);
    // Flushing inside ensure() keeps the buffer near flushAt whatever the row group size;
    // ByteWriter counts `offset` on its own, so file offsets stay right across flushes.
    byteWriter.ensure = (size: number) => {
      if (byteWriter.index > flushAt) flush();
      grow(size);
    };
    byteWriter.finish = flush;
    // Between row groups the buffer goes back to a small one: validate keeps a file open per
    // date partition, and each holding the largest buffer it ever needed grew with the batch.
    this.release = () => {
      flush();
      if (byteWriter.buffer.byteLength > IDLE_BUFFER_BYTES) {
        byteWriter.buffer = new ArrayBuffer(IDLE_BUFFER_BYTES);
        byteWriter.view = new DataView(byteWriter.buffer);
      }
    };
    this.rowGroupSize = options.rowGroupSize ?? 250_000;
    this.writer = new ParquetWriter({
      writer: byteWriter,
      schema: [{ name: 'root', num_children: schema.length }, ...schema.map(schemaElement)],
      // Deterministic: the same page always compresses to the same bytes (see ./snappy.ts).
      compressors: { SNAPPY: snappyCompress },
      statistics: options.statistics ?? true,
      createdBy: 'cartpipe',
    });
  }
  private readonly rowGroupSize: number;
  private readonly release: () => void;

  write(columns: Columns): void {
    const length = columns[this.schema[0]!.name]?.length ?? 0;
    if (length === 0) return;
    const columnData = this.schema.map((c) => {
      const values = columns[c.name];
      if (!values || values.length !== length) {
        throw new Error(
          `parquet batch column ${c.name} has ${values?.length ?? 0} values, expected ${length}`,
        );
      }
      return { name: c.name, data: physical(c, values) as never };
    });
    void this.writer.write({ columnData, rowGroupSize: this.rowGroupSize });
    this.release();
    this.rows += length;
  }

  /** Writes the footer and closes the file. */
  close(): { rows: number; bytes: number } {
    this.writer.finish();
    closeSync(this.fd);
    return { rows: this.rows, bytes: this.bytes };
  }

  /** Closes without a valid footer (the caller discards the file). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** An AsyncBuffer over bytes in memory. */
export function bufferOf(bytes: Uint8Array): AsyncBuffer {
  const ab = bytes.buffer.slice(
    bytes.byteOffset,
    bytes.byteOffset + bytes.byteLength,
  ) as ArrayBuffer;
  return {
    byteLength: ab.byteLength,
    slice: (start: number, end?: number) => ab.slice(start, end),
  };
}

function logical(value: unknown): Value {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.getTime();
  return value as Value;
}

/** Timestamps as epoch milliseconds straight away: a Date per value is garbage for nothing. */
const EPOCH_MS_PARSERS = {
  timestampFromMilliseconds: (millis: bigint | number) => Number(millis),
  timestampFromMicroseconds: (micros: bigint) => Number(micros / 1000n),
  timestampFromNanoseconds: (nanos: bigint) => Number(nanos / 1000000n),
} as never;

/** Copies a decoded chunk into `target` at `offset`, as logical values. */
function copyChunk(source: ArrayLike<unknown>, target: Value[], offset: number): void {
  const end = Math.min(source.length, target.length - offset);
  if (source instanceof Float64Array || source instanceof Int32Array) {
    for (let i = Math.max(0, -offset); i < end; i++) target[offset + i] = source[i]!;
    return;
  }
  for (let i = Math.max(0, -offset); i < end; i++) target[offset + i] = logical(source[i]);
}

/** Row count and column names of a Parquet file. */
export async function parquetInfo(
  file: AsyncBuffer,
): Promise<{ rows: number; columns: string[]; metadata: FileMetaData }> {
  const metadata = await parquetMetadataAsync(file);
  return {
    rows: Number(metadata.num_rows),
    columns: metadata.schema.slice(1).map((s) => s.name),
    metadata,
  };
}

/**
 * Reads a Parquet file one row group at a time as columnar batches of logical values
 * (INT64 -> number, timestamps -> epoch ms). Columns absent from the file read as null.
 */
export async function* readParquet(
  file: AsyncBuffer,
  options: { columns?: readonly string[] } = {},
): AsyncGenerator<Columns> {
  const { metadata, columns: present } = await parquetInfo(file);
  const wanted = options.columns ?? present;
  const available = wanted.filter((c) => present.includes(c));
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const out: Columns = {};
    for (const c of wanted) out[c] = new Array<Value>(rowEnd - rowStart).fill(null);
    if (available.length > 0) {
      await parquetRead({
        file,
        metadata,
        columns: [...available],
        rowStart,
        rowEnd,
        parsers: EPOCH_MS_PARSERS,
        onChunk: ({ columnName, columnData, rowStart: chunkStart }) =>
          copyChunk(columnData, out[columnName]!, chunkStart - rowStart),
      });
    }
    rowStart = rowEnd;
    if (rowEnd > rowStart - Number(group.num_rows)) yield out;
  }
}
