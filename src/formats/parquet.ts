/**
 * Parquet in and out. Writing uses the pipeline's own encoder (./parquet-encoder.ts), flushed to a
 * local file row group by row group (bounded memory); reading uses hyparquet one row group at a
 * time, columnar.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { parquetMetadataAsync, parquetRead, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { decodeOwnRowGroup, isOwnFile } from './parquet-decoder.js';
import { ByteSink, ParquetEncoder } from './parquet-encoder.js';

/** Logical column types the pipeline stores. Timestamps are epoch milliseconds (UTC). */
export type ColumnType = 'string' | 'int' | 'float' | 'timestamp' | 'bool';
export interface ColumnDef {
  name: string;
  type: ColumnType;
  /** Never null: REQUIRED in the Parquet schema (see EncodedColumn.required). */
  required?: boolean;
}
export type Value = string | number | boolean | null;
/** Columnar batch: column name -> values; every column has the same length. */
export type Columns = Record<string, Value[]>;

/**
 * Bytes on their way to a file. One buffer for every writer of the process: each write() leaves
 * it empty, so validate's hundreds of open part files (one per date) hold no buffer each.
 */
const pending = new ByteSink(4 * 1024 * 1024);
const FLUSH_AT = 4 * 1024 * 1024;
const IDLE_BUFFER_BYTES = 8 * 1024 * 1024;
/** Rows encoded at a time: each slice's values become pages, and garbage, straight away. */
const SLICE_ROWS = 10_000;

/** `columns` as the encoder takes them: in schema order, checked to be of one length. */
function columnsInSchemaOrder(
  schema: readonly ColumnDef[],
  columns: Columns,
): { data: Value[][]; length: number } {
  const length = columns[schema[0]!.name]?.length ?? 0;
  const data = schema.map((c) => {
    const values = columns[c.name];
    if (!values || values.length !== length) {
      throw new Error(
        `parquet batch column ${c.name} has ${values?.length ?? 0} values, expected ${length}`,
      );
    }
    return values;
  });
  return { data, length };
}

/**
 * A whole Parquet file in memory, in one row group: for batches small enough to hold, such as a
 * KPI period's rows. The same bytes ParquetFileWriter writes for them, without a file: creating
 * one costs ~0.7 ms on these disks, and compute-kpi wrote two per day of a year's batch.
 * @example
 * const bytes = encodeParquet([{ name: 'id', type: 'int' }], { id: [1, 2] });
 */
export function encodeParquet(
  schema: readonly ColumnDef[],
  columns: Columns,
  options: { statistics?: boolean } = {},
): Uint8Array {
  const { data, length } = columnsInSchemaOrder(schema, columns);
  const out = new ByteSink(16 * 1024);
  const target = { write: (bytes: Uint8Array) => out.bytes(bytes), offset: () => out.pos };
  const encoder = new ParquetEncoder(target, schema, { statistics: options.statistics ?? true });
  for (let start = 0; start < length; start += SLICE_ROWS) {
    encoder.append(data, start, Math.min(SLICE_ROWS, length - start));
  }
  encoder.finish();
  return out.buf.subarray(0, out.pos);
}

/**
 * Writes one Parquet file to `path`, a batch at a time.
 * @example
 * const w = new ParquetFileWriter('/tmp/x.parquet', [{ name: 'id', type: 'int' }]);
 * w.write({ id: [1, 2] }); const { rows, bytes } = w.close();
 */
export class ParquetFileWriter {
  private fd: number | undefined;
  private readonly encoder: ParquetEncoder;
  private readonly rowGroupSize: number;
  private readonly inMemoryUpTo: number;
  /** Bytes made before the file exists: its header, and at close the whole file if small. */
  private early: Uint8Array[] = [];
  private closing = false;
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
      /**
       * A file whose every row group is written at close() and takes at most this many bytes is
       * never created: close() returns its bytes (default 0: always a file). Creating a file
       * costs about as much as encoding a few thousand rows, and validate closes a small part per
       * date; a row group ended before close() creates the file, so memory holds no more than
       * before.
       */
      inMemoryUpTo?: number;
    } = {},
  ) {
    this.rowGroupSize = options.rowGroupSize ?? 250_000;
    this.inMemoryUpTo = options.inMemoryUpTo ?? 0;
    const target = {
      write: (bytes: Uint8Array) => {
        pending.bytes(bytes);
        if (pending.pos >= FLUSH_AT) this.flush();
      },
      offset: () => this.bytes + pending.pos,
    };
    if (this.inMemoryUpTo === 0) this.fd = openSync(path, 'w');
    this.encoder = new ParquetEncoder(target, schema, {
      statistics: options.statistics ?? true,
    });
    // The header: kept in memory when the file may never be made.
    if (this.fd === undefined) this.keep();
    this.flush();
  }

  private keep(): void {
    this.early.push(Uint8Array.prototype.slice.call(pending.buf, 0, pending.pos));
    this.bytes += pending.pos;
    pending.pos = 0;
  }

  private flush(): void {
    if (pending.pos === 0) return;
    if (this.fd === undefined) {
      if (this.closing && this.bytes + pending.pos <= this.inMemoryUpTo) {
        this.keep();
        return;
      }
      this.fd = openSync(this.path, 'w');
      for (const bytes of this.early) writeSync(this.fd, bytes);
      this.early = [];
    }
    writeSync(this.fd, pending.buf, 0, pending.pos);
    this.bytes += pending.pos;
    pending.pos = 0;
  }

  /**
   * Appends `columns` to the open row group, encoding them a slice at a time (the caller may drop
   * its arrays as soon as this returns); a row group is written whenever it reaches
   * rowGroupSize rows, and by endRowGroup() or close().
   */
  write(columns: Columns): void {
    const { data, length } = columnsInSchemaOrder(this.schema, columns);
    if (length === 0) return;
    this.emit(() => {
      for (let start = 0; start < length;) {
        const room = this.rowGroupSize - this.encoder.openRows;
        const count = Math.min(room, SLICE_ROWS, length - start);
        this.encoder.append(data, start, count);
        start += count;
        if (this.encoder.openRows >= this.rowGroupSize) this.encoder.endRowGroup();
      }
    });
    this.rows += length;
  }

  /** Bytes the open row group holds in memory (see {@link ParquetEncoder.heldBytes}). */
  heldBytes(): number {
    return this.encoder.heldBytes();
  }

  /** Writes the open row group now (a caller bounding how much it keeps in memory). */
  endRowGroup(): void {
    this.emit(() => this.encoder.endRowGroup());
  }

  /**
   * Writes the open row group and the footer, and closes the file. `data`: the file's bytes, when
   * it was small enough to stay in memory (see inMemoryUpTo; `inMemory` false: never) and no file
   * was created.
   */
  close(inMemory = true): { rows: number; bytes: number; data?: Uint8Array } {
    this.closing = inMemory;
    try {
      this.emit(() => this.encoder.finish());
    } finally {
      if (this.fd !== undefined) closeSync(this.fd);
    }
    if (this.fd !== undefined) return { rows: this.rows, bytes: this.bytes };
    const data = Buffer.concat(this.early);
    this.early = [];
    return { rows: this.rows, bytes: this.bytes, data };
  }

  /**
   * Runs encoder work and writes the bytes it produced to this file. The shared buffer is left
   * empty either way (a failure leaves nothing behind for the next file) and not left large.
   */
  private emit(work: () => void): void {
    try {
      work();
      this.flush();
    } finally {
      pending.pos = 0;
      if (pending.buf.length > IDLE_BUFFER_BYTES) pending.shrink(FLUSH_AT);
    }
  }

  /** Closes without a valid footer (the caller discards the file). */
  abort(): void {
    this.early = [];
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** An AsyncBuffer over bytes already in memory, which the pipeline's own decoder reads in place. */
export interface BytesBuffer extends AsyncBuffer {
  /** The bytes [start, end) as a view, not a copy: valid as long as the bytes are. */
  view(start: number, end: number): Uint8Array;
}

/**
 * An AsyncBuffer over bytes in memory, without copying them: a reader asks for slices (a footer,
 * a column chunk), and only those are copied, so a part is held once however it is read. The
 * pipeline's decoder reads column chunks through {@link BytesBuffer.view}, copying nothing: each
 * copy was memory outside V8's heap that only a later collection returned.
 */
export function bufferOf(bytes: Uint8Array): BytesBuffer {
  const { buffer, byteOffset, byteLength } = bytes;
  // Offsets as ArrayBuffer.slice takes them (negative from the end), within these bytes.
  const within = (offset: number) =>
    byteOffset + Math.max(0, Math.min(byteLength, offset < 0 ? byteLength + offset : offset));
  return {
    byteLength,
    slice: (start: number, end = byteLength) =>
      buffer.slice(within(start), within(end)) as ArrayBuffer,
    view: (start: number, end: number) =>
      new Uint8Array(buffer, within(start), within(end) - within(start)),
  };
}

/**
 * Byte ranges [start, end) of `columns`' chunks in every row group, in file order, joined where
 * less than `gap` bytes lie between them: reading a small gap costs less than another request.
 */
export function columnChunkRanges(
  metadata: FileMetaData,
  columns: readonly string[],
  gap: number,
): [number, number][] {
  const elements = metadata.schema.slice(1);
  const chunks: [number, number][] = [];
  for (const group of metadata.row_groups) {
    for (const name of columns) {
      const index = elements.findIndex((e) => e.name === name);
      const meta = index < 0 ? undefined : group.columns[index]?.meta_data;
      if (!meta) continue;
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      chunks.push([start, start + Number(meta.total_compressed_size)]);
    }
  }
  chunks.sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  for (const [start, end] of chunks) {
    const last = ranges.at(-1);
    if (last && start - last[1] < gap) last[1] = Math.max(last[1], end);
    else ranges.push([start, end]);
  }
  return ranges;
}

/**
 * A BytesBuffer over some ranges of a file of `byteLength` bytes (each piece's bytes from its
 * `start`): what a reader that fetched only a footer's worth of column chunks decodes. Asking for
 * bytes outside the pieces is a bug in the caller, and throws.
 */
export function sparseBufferOf(
  byteLength: number,
  pieces: readonly { start: number; bytes: Uint8Array }[],
): BytesBuffer {
  const locate = (start: number, end: number) => {
    const piece = pieces.find((p) => p.start <= start && end <= p.start + p.bytes.byteLength);
    if (!piece) throw new RangeError(`bytes ${start}-${end} of the file were not fetched`);
    return piece.bytes.subarray(start - piece.start, end - piece.start);
  };
  const absolute = (offset: number) => (offset < 0 ? byteLength + offset : offset);
  return {
    byteLength,
    slice: (start: number, end = byteLength) => {
      const bytes = locate(absolute(start), absolute(end));
      return bytes.buffer.slice(
        bytes.byteOffset,
        bytes.byteOffset + bytes.byteLength,
      ) as ArrayBuffer;
    },
    view: (start: number, end: number) => locate(start, end),
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

/**
 * Bytes read from a file's end for its footer: the pipeline's footers take a few KB (hyparquet's
 * default, 512 KB, was a copy of most of a small part); a larger footer is read in a second slice.
 */
export const FOOTER_FETCH_BYTES = 16 * 1024;

/** A file's metadata, read from its footer. */
export function readFooter(file: AsyncBuffer): Promise<FileMetaData> {
  return parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH_BYTES });
}

/** Row count and column names of a Parquet file (`metadata`: its footer, when already read). */
export async function parquetInfo(
  file: AsyncBuffer,
  known?: FileMetaData,
): Promise<{ rows: number; columns: string[]; metadata: FileMetaData }> {
  const metadata = known ?? (await readFooter(file));
  return {
    rows: Number(metadata.num_rows),
    columns: metadata.schema.slice(1).map((s) => s.name),
    metadata,
  };
}

/**
 * Reads a Parquet file one row group at a time as columnar batches of logical values
 * (INT64 -> number, timestamps -> epoch ms). Columns absent from the file read as null. The
 * pipeline's own files are decoded by ./parquet-decoder.ts, any other by hyparquet. With
 * `batchRows`, the pipeline's own files come in batches of at most that many rows, decoded a
 * few pages at a time, so a reader holds a batch rather than a row group (other files still
 * come a row group at a time).
 */
export async function* readParquet(
  file: AsyncBuffer,
  options: { columns?: readonly string[]; batchRows?: number; metadata?: FileMetaData } = {},
): AsyncGenerator<Columns> {
  const { metadata, columns: present } = await parquetInfo(file, options.metadata);
  const wanted = options.columns ?? present;
  const available = wanted.filter((c) => present.includes(c));
  const own = isOwnFile(metadata, available);
  let rowStart = 0;
  for (const [index, group] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(group.num_rows);
    if (own) {
      yield* decodeOwnRowGroup(file, metadata, index, wanted, options.batchRows);
      rowStart = rowEnd;
      continue;
    }
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
    const rows = rowEnd - rowStart;
    rowStart = rowEnd;
    if (rows > 0) yield out;
  }
}
