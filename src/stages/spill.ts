/**
 * Rows between validate's two passes: the first splits an entity's raw rows into key buckets, the
 * second validates one bucket at a time, so the keys held at once are one bucket's, whatever the
 * batch's size. The rows wait on the task's local disk (Fargate's ephemeral storage), not in
 * memory and not in the bucket: they are read back once, by the thread that wrote them or its
 * neighbour, within the same task.
 *
 * A spill file is a run of chunks, each a little-endian uint32 byte length and the chunk's
 * columns in V8's serialisation (node:v8): native code both ways, no schema to keep in step, and
 * strings come back as strings. A dictionary column (a row's source file, the same for thousands
 * of rows) is written as its distinct values and an index per row.
 */
import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { Columns, Value } from '../formats/parquet.js';
import { ValueDictionary } from './row-bytes.js';

/** Rows a bucket collects at most before they are written. */
const CHUNK_ROWS = 4096;
/**
 * Rows a writer holds for all its buckets together, about: a bucket's chunk is this shared out,
 * so the first pass holds as much for 22 buckets (20M order_items rows) as for 2 (1M), where
 * 4,096 rows each were ~45k rows of raw text per thread, half-full on average, at 20M.
 */
const PENDING_ROWS = 8192;
/** Rows a chunk has at least: smaller ones would be more writes than rows. */
const MIN_CHUNK_ROWS = 256;

/** A spill file's name: the entity, its bucket and the first-pass piece that wrote it. */
export function spillPath(dir: string, entity: string, bucket: number, piece: number): string {
  return join(dir, `${entity}.bucket-${bucket}.piece-${piece}.spill`);
}

type EncodedColumn = Value[] | { dictionary: Value[]; index: Uint32Array };

/** Appends rows to one spill file per bucket; files are opened on their first row. */
export class SpillWriter {
  private readonly pending: Value[][][];
  private readonly files: (number | undefined)[];
  private readonly header = Buffer.alloc(4);
  private readonly chunkRows: number;
  /** Rows written per bucket. */
  readonly rows: number[];

  /**
   * @param pathOf where bucket b's rows go
   * @param columns how many columns a row has
   * @param dictionaryColumns columns with few distinct values
   */
  constructor(
    private readonly pathOf: (bucket: number) => string,
    buckets: number,
    private readonly columns: number,
    private readonly dictionaryColumns: readonly number[] = [],
  ) {
    this.chunkRows = Math.max(
      MIN_CHUNK_ROWS,
      Math.min(CHUNK_ROWS, Math.floor(PENDING_ROWS / Math.max(1, buckets))),
    );
    this.pending = Array.from({ length: buckets }, () => this.emptyChunk());
    this.files = new Array<number | undefined>(buckets).fill(undefined);
    this.rows = new Array<number>(buckets).fill(0);
  }

  /** Appends row `row` of `source` (one array per column) to `bucket`. */
  append(bucket: number, source: readonly (readonly Value[])[], row: number): void {
    const chunk = this.pending[bucket]!;
    for (let c = 0; c < this.columns; c++) chunk[c]!.push(source[c]![row] ?? null);
    this.rows[bucket]! += 1;
    if (chunk[0]!.length >= this.chunkRows) this.flush(bucket);
  }

  /** Writes what is pending and closes the files; returns the rows written per bucket. */
  finish(): number[] {
    for (let b = 0; b < this.pending.length; b++) this.flush(b);
    this.close();
    return this.rows;
  }

  /** Closes the files without writing what is pending (after a failure). */
  close(): void {
    for (const fd of this.files) if (fd !== undefined) closeSync(fd);
    this.files.fill(undefined);
  }

  private emptyChunk(): Value[][] {
    return Array.from({ length: this.columns }, () => []);
  }

  private flush(bucket: number): void {
    const chunk = this.pending[bucket]!;
    if (chunk[0]!.length === 0) return;
    const payload = encodeChunk(chunk, this.dictionaryColumns);
    this.header.writeUInt32LE(payload.length, 0);
    let fd = this.files[bucket];
    if (fd === undefined) this.files[bucket] = fd = openSync(this.pathOf(bucket), 'w');
    writeSync(fd, this.header);
    writeSync(fd, payload);
    this.pending[bucket] = this.emptyChunk();
  }
}

/**
 * A chunk of rows (one array per column) as a spill file stores it: V8's serialisation, the
 * `dictionaryColumns` (few distinct values) as their values and an index per row.
 */
function encodeChunk(
  columns: readonly (readonly Value[])[],
  dictionaryColumns: readonly number[] = [],
): Buffer {
  return serialize(
    columns.map((values, c) => (dictionaryColumns.includes(c) ? dictionaryOf(values) : values)),
  );
}

/** The columns of a chunk {@link encodeChunk} made. */
function decodeChunk(bytes: Uint8Array): Value[][] {
  return (deserialize(bytes) as EncodedColumn[]).map((column) =>
    Array.isArray(column) ? column : Array.from(column.index, (at) => column.dictionary[at]!),
  );
}

function dictionaryOf(values: readonly Value[]): EncodedColumn {
  const dictionary = new ValueDictionary();
  const index = new Uint32Array(values.length);
  for (let i = 0; i < values.length; i++) index[i] = dictionary.index(values[i]!);
  return { dictionary: dictionary.values, index };
}

/**
 * The rows of a spill file, a chunk at a time, as columns named `names` (in the order they were
 * written). A file that was never opened (no row of that bucket) yields nothing.
 */
export function* readSpill(path: string, names: readonly string[]): Generator<Columns> {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(4);
    let buffer = Buffer.alloc(1 << 20);
    for (;;) {
      const got = readSync(fd, header, 0, 4, null);
      if (got === 0) return;
      if (got !== 4) throw new Error(`${path}: truncated chunk header`);
      const length = header.readUInt32LE(0);
      if (buffer.length < length) buffer = Buffer.alloc(Math.max(length, buffer.length * 2));
      let read = 0;
      while (read < length) {
        const n = readSync(fd, buffer, read, length - read, null);
        if (n === 0) throw new Error(`${path}: truncated chunk`);
        read += n;
      }
      const decoded = decodeChunk(buffer.subarray(0, length));
      const columns: Columns = {};
      names.forEach((name, c) => (columns[name] = decoded[c]!));
      yield columns;
    }
  } finally {
    closeSync(fd);
  }
}
