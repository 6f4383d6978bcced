/**
 * A Parquet encoder for the flat tables the pipeline writes: OPTIONAL or REQUIRED columns of text,
 * INT64, DOUBLE, BOOLEAN and INT64 timestamps (ms, UTC); data pages v1 with RLE/bit-packed
 * definition levels (none for REQUIRED columns); PLAIN or dictionary (RLE_DICTIONARY) values;
 * snappy pages; a thrift-compact footer with per-chunk statistics.
 *
 * Why not hyparquet-writer, which this replaced: it is general (nested columns, many encodings,
 * page indexes) and builds several arrays and objects per value on the way (levels, sliced pages,
 * BigInts, a Uint8Array per text value); on the stages' all-flat, mostly-text tables that was a
 * quarter of upload's time and as much again in garbage collection. Here values go from the JS
 * arrays straight into a few reused byte buffers. Readers: hyparquet, DuckDB, Arrow, Trino
 * (Athena) all read data page v1 with these encodings, the most widely supported combination.
 */
import { snappyCompressTransient } from './snappy.js';

export type EncodedType = 'string' | 'int' | 'float' | 'timestamp' | 'bool';
export interface EncodedColumn {
  name: string;
  type: EncodedType;
  /**
   * REQUIRED in the schema: pages carry no definition levels, and a null is refused. Readers
   * hand such a column over as decoded, where an OPTIONAL one is rebuilt value by value around
   * its nulls (hyparquet: most of compute-kpi's garbage).
   */
  required?: boolean;
}
type Cell = string | number | boolean | null | undefined;

// Parquet enums (parquet.thrift).
const TYPE = { BOOLEAN: 0, INT64: 2, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const ENCODING = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PAGE = { DATA_PAGE: 0, DICTIONARY_PAGE: 2 } as const;
const CONVERTED = { UTF8: 0, TIMESTAMP_MILLIS: 9 } as const;
const REQUIRED = 0;
const OPTIONAL = 1;
const SNAPPY = 1;

// Thrift compact protocol type ids.
const T_TRUE = 1;
const T_FALSE = 2;
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

const TWO_32 = 2 ** 32;
/** Target uncompressed size of one data page: big enough for snappy, small enough to stream. */
const PAGE_BYTES = 1024 * 1024;
/**
 * Rows a data page holds at most. Pages end at the same rows in every column (multiples of this
 * from the row group's start; a page cut earlier by PAGE_BYTES or a change of encoding ends
 * before such a boundary, never across one), so a reader can decode a row group a stretch of
 * rows at a time instead of a whole row group at once (see readParquet's batchRows). parquet-rs
 * caps pages at 20,000 rows for the same reason; 8,192 int64 values are 64 KB, snappy's block.
 */
export const PAGE_ROWS = 8192;

/** A growable byte buffer with the little-endian and varint writes Parquet needs. */
export class ByteSink {
  buf: Buffer;
  pos = 0;
  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  /** Back to a small buffer: a large one is not kept for the next, maybe small, file. */
  shrink(size: number): void {
    if (this.buf.length > size) this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }
  /** A safe integer as a little-endian two's-complement INT64. */
  i64(v: number): void {
    this.ensure(8);
    const high = Math.floor(v / TWO_32);
    this.buf.writeUInt32LE(v - high * TWO_32, this.pos);
    this.buf.writeInt32LE(high, this.pos + 4);
    this.pos += 8;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  /** Unsigned LEB128 of a non-negative safe integer. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  bytes(b: Uint8Array, start = 0, end = b.length): void {
    this.ensure(end - start);
    this.buf.set(b.subarray(start, end), this.pos);
    this.pos += end - start;
  }
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Thrift compact protocol, write side, for the handful of structs a Parquet footer and page
 * header hold. Field ids must ascend within a struct (as the protocol's delta encoding needs).
 */
class ThriftWriter {
  private last: number[] = [0];
  constructor(readonly out: ByteSink) {}
  private field(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta <= 15) this.out.u8((delta << 4) | type);
    else {
      this.out.u8(type);
      this.out.varint(id >= 0 ? id * 2 : -id * 2 - 1);
    }
    this.last[this.last.length - 1] = id;
  }
  private zigzag(v: number): void {
    this.out.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }
  i32(id: number, v: number): this {
    this.field(id, T_I32);
    this.zigzag(v);
    return this;
  }
  i64(id: number, v: number): this {
    this.field(id, T_I64);
    this.zigzag(v);
    return this;
  }
  bool(id: number, v: boolean): this {
    this.field(id, v ? T_TRUE : T_FALSE);
    return this;
  }
  binary(id: number, v: Uint8Array | string): this {
    this.field(id, T_BINARY);
    this.rawBinary(v);
    return this;
  }
  rawBinary(v: Uint8Array | string): void {
    const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.out.varint(bytes.length);
    this.out.bytes(bytes);
  }
  /** Opens a struct field; close it with end(). */
  struct(id: number): this {
    this.field(id, T_STRUCT);
    this.last.push(0);
    return this;
  }
  /** Opens a struct that is a list element (no field header); close it with end(). */
  element(): this {
    this.last.push(0);
    return this;
  }
  end(): this {
    this.out.u8(0);
    this.last.pop();
    return this;
  }
  list(id: number, elementType: 'i32' | 'binary' | 'struct', size: number): this {
    this.field(id, T_LIST);
    const type = elementType === 'i32' ? T_I32 : elementType === 'binary' ? T_BINARY : T_STRUCT;
    if (size < 15) this.out.u8((size << 4) | type);
    else {
      this.out.u8(0xf0 | type);
      this.out.varint(size);
    }
    return this;
  }
  listI32(v: number): void {
    this.zigzag(v);
  }
  /** Ends the outermost struct (the message). */
  finish(): void {
    this.out.u8(0);
  }
}

/**
 * RLE / bit-packing hybrid encoder (the Parquet spec's, as parquet-mr and Arrow write it): runs of
 * eight or more equal values become RLE runs, everything else groups of eight bit-packed values.
 */
class HybridEncoder {
  private readonly buffered = new Int32Array(8);
  private count = 0;
  private previous = 0;
  private repeats = 0;
  private groups = 0;
  private headerAt = -1;
  constructor(
    private readonly out: ByteSink,
    private readonly bitWidth: number,
  ) {}

  put(v: number): void {
    if (v === this.previous) {
      this.repeats += 1;
      if (this.repeats >= 8) return; // extends the RLE run; not buffered
    } else {
      if (this.repeats >= 8) this.rleRun();
      this.repeats = 1;
      this.previous = v;
    }
    this.buffered[this.count++] = v;
    if (this.count === 8) this.packGroup();
  }

  /** `n` copies of `v` (long runs of the same definition level cost one call). */
  putRun(v: number, n: number): void {
    // Fill the open group value by value, then whole runs go straight to the RLE count.
    while (n > 0 && (this.repeats < 8 || v !== this.previous)) {
      this.put(v);
      n -= 1;
    }
    this.repeats += n;
  }

  finish(): void {
    if (this.repeats >= 8) this.rleRun();
    else if (this.count > 0) {
      this.buffered.fill(0, this.count);
      this.count = 8;
      this.packGroup();
      this.endPacked();
    } else this.endPacked();
  }

  private packGroup(): void {
    if (this.groups >= 63) this.endPacked();
    const out = this.out;
    if (this.headerAt < 0) {
      out.u8(0);
      this.headerAt = out.pos - 1;
    }
    const width = this.bitWidth;
    out.ensure(width);
    const b = this.buffered;
    if (width === 1) {
      out.buf[out.pos++] =
        b[0]! |
        (b[1]! << 1) |
        (b[2]! << 2) |
        (b[3]! << 3) |
        (b[4]! << 4) |
        (b[5]! << 5) |
        (b[6]! << 6) |
        (b[7]! << 7);
    } else {
      let acc = 0;
      let bits = 0;
      for (let i = 0; i < 8; i++) {
        acc += b[i]! * 2 ** bits;
        bits += width;
        while (bits >= 8) {
          out.buf[out.pos++] = acc % 256;
          acc = Math.floor(acc / 256);
          bits -= 8;
        }
      }
    }
    this.count = 0;
    this.repeats = 0;
    this.groups += 1;
  }

  private endPacked(): void {
    if (this.headerAt < 0) return;
    this.out.buf[this.headerAt] = (this.groups << 1) | 1;
    this.headerAt = -1;
    this.groups = 0;
  }

  private rleRun(): void {
    this.endPacked();
    const out = this.out;
    out.varint(this.repeats * 2);
    let v = this.previous;
    for (let i = 0; i < Math.ceil(this.bitWidth / 8); i++) {
      out.u8(v & 0xff);
      v >>>= 8;
    }
    this.repeats = 0;
    this.count = 0;
  }
}

/** Code point order (UTF-8 byte order) of two strings; JS `<` compares UTF-16 code units. */
function compareText(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (code points past U+FFFF) sort after U+E000..U+FFFF in UTF-8.
      const fx = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      const fy = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      return fx - fy;
    }
    return x - y;
  }
  return a.length - b.length;
}

interface ChunkMeta {
  column: number;
  offset: number;
  dictionaryOffset?: number;
  dataOffset: number;
  compressed: number;
  uncompressed: number;
  values: number;
  nulls: number;
  dictionary: boolean;
  min?: Uint8Array;
  max?: Uint8Array;
}
interface RowGroupMeta {
  rows: number;
  offset: number;
  chunks: ChunkMeta[];
}

// Scratch space shared by every encoder in the process: encoding is synchronous, so no two pages
// are ever encoded at once, and a stage with hundreds of open files (validate: one per date)
// holds no scratch buffer per file.
const values = new ByteSink(PAGE_BYTES + 64 * 1024);
const levels = new ByteSink(64 * 1024);
const pageBody = new ByteSink(PAGE_BYTES + 128 * 1024);
const header = new ByteSink(256);
const rowGroupScratch = new ByteSink(4 * 1024);
let indexes = new Int32Array(64 * 1024);

/** Where finished bytes go: appended in order, flushed by the caller. */
interface ByteTarget {
  write(bytes: Uint8Array): void;
  /** Bytes written so far: the file offset of the next byte. */
  offset(): number;
}

/** A dictionary stops growing past these (parquet-mr's default page size for the bytes). */
const MAX_DICTIONARY_ENTRIES = 1 << 16;
const MAX_DICTIONARY_BYTES = 1024 * 1024;
/** Heap a dictionary entry costs beyond its PLAIN bytes: a Map entry and an array slot. */
const DICTIONARY_ENTRY_OVERHEAD = 48;

/** Grows a typed array to hold at least `length` elements, keeping its contents. */
function grown<T extends Uint8Array | Int32Array>(array: T, length: number): T {
  if (array.length >= length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(length, array.length * 2));
  next.set(array);
  return next;
}

/**
 * One column chunk of the open row group, encoded as rows arrive: values go straight into the
 * open page's bytes (PLAIN) or indexes (dictionary), so the caller can let go of its JS values
 * at once (held until a row group was full, they were most of the garbage collector's work),
 * while pages still fill up to PAGE_BYTES however small the slices are. Finished pages are kept
 * compressed until the row group is written. The first slice decides dictionary or PLAIN (see
 * {@link sampleFavoursDictionary}); a dictionary that stops paying or grows too large falls back
 * to PLAIN for the rest, as parquet-mr does, so a chunk can hold dictionary pages then plain ones.
 */
class ColumnChunkBuilder {
  /** The chunk's finished data pages (headers and compressed bodies) as they will be written. */
  private readonly pages = takeSink();
  private compressed = 0;
  private uncompressed = 0;
  private values = 0;
  private nulls = 0;
  private mode: 'undecided' | 'dictionary' | 'plain' = 'undecided';
  private readonly lookup = new Map<Cell, number>();
  private readonly entries: Cell[] = [];
  private dictionaryBytes = 0;
  /** PLAIN bytes of the dictionary-encoded values, and how many there were. */
  private dictionaryValueBytes = 0;
  private dictionaryValues = 0;
  private dictionaryPages = 0;
  private min: Cell = null;
  private max: Cell = null;
  // The open page: a definition level per row, and its values (PLAIN bytes or indexes).
  private pageRows = 0;
  private pageLevels = new Uint8Array(256);
  private pageEncoding: number = ENCODING.PLAIN;
  private pageValues: ByteSink | undefined;
  private pageIndexes = new Int32Array(0);
  private pageIndexCount = 0;

  constructor(
    private readonly column: EncodedColumn,
    private readonly statistics: boolean,
  ) {}

  add(data: readonly Cell[], start: number, end: number): void {
    if (this.mode === 'undecided') {
      this.mode = sampleFavoursDictionary(this.column, data, start, end) ? 'dictionary' : 'plain';
    }
    while (start < end) {
      const stop = Math.min(end, start + PAGE_ROWS - (this.values % PAGE_ROWS));
      this.addRows(data, start, stop);
      start = stop;
      if (this.values % PAGE_ROWS === 0) this.endPage();
    }
  }

  /** Rows start..end, none past the open page's PAGE_ROWS boundary. */
  private addRows(data: readonly Cell[], start: number, end: number): void {
    if (this.mode === 'dictionary') {
      if (this.addIndexes(data, start, end)) return;
      this.mode = 'plain';
      this.endPage();
    }
    this.addPlain(data, start, end);
  }

  /**
   * Bytes this open chunk holds: finished pages, the open page and the dictionary (its values
   * and, roughly, the lookup entry each costs).
   */
  heldBytes(): number {
    return (
      this.pages.buf.length +
      (this.pageValues?.buf.length ?? 0) +
      this.pageLevels.length +
      this.pageIndexes.byteLength +
      this.dictionaryBytes +
      this.entries.length * DICTIONARY_ENTRY_OVERHEAD
    );
  }

  /** Writes the chunk (dictionary page first) at the target's offset. */
  write(target: ByteTarget, columnIndex: number): ChunkMeta {
    this.endPage();
    const column = this.column;
    const meta: ChunkMeta = {
      column: columnIndex,
      offset: target.offset(),
      dataOffset: 0,
      compressed: this.compressed,
      uncompressed: this.uncompressed,
      values: this.values,
      nulls: this.nulls,
      dictionary: this.dictionaryPages > 0,
    };
    if (meta.dictionary) {
      meta.dictionaryOffset = target.offset();
      values.pos = 0;
      for (const v of this.entries) writePlain(column, v, values);
      const page = takeSink();
      const headerBytes = encodePage(
        page,
        PAGE.DICTIONARY_PAGE,
        this.entries.length,
        0,
        values.view(),
      );
      target.write(page.view());
      meta.compressed += page.pos;
      meta.uncompressed += headerBytes + values.pos;
      releaseSink(page);
      values.shrink(PAGE_BYTES + 64 * 1024);
    }
    meta.dataOffset = target.offset();
    target.write(this.pages.view());
    releaseSink(this.pages);
    if (this.statistics) {
      let { min, max } = this;
      for (const v of this.entries) {
        if (v !== v) continue; // NaN
        if (min === null || less(column, v, min)) min = v;
        if (max === null || less(column, max, v)) max = v;
      }
      if (min !== null && max !== null) {
        meta.min = statisticBytes(column, min, 'min');
        meta.max = statisticBytes(column, max, 'max');
      }
    }
    return meta;
  }

  /** Definition levels of rows start..end into the open page; its null count. */
  private addLevels(data: readonly Cell[], start: number, end: number): number {
    this.pageLevels = grown(this.pageLevels, this.pageRows + end - start);
    const levels = this.pageLevels;
    let at = this.pageRows;
    let nulls = 0;
    for (let i = start; i < end; i++) {
      const v = data[i];
      const defined = v === null || v === undefined ? 0 : 1;
      levels[at++] = defined;
      nulls += 1 - defined;
    }
    if (nulls > 0 && this.column.required) {
      throw new Error(
        `parquet column ${this.column.name} is REQUIRED and cannot hold null (row ${data.findIndex((v, i) => i >= start && (v === null || v === undefined))} of the batch)`,
      );
    }
    this.pageRows = at;
    this.values += end - start;
    this.nulls += nulls;
    return nulls;
  }

  /** Dictionary indexes of rows start..end; false (nothing kept) when the dictionary stops paying. */
  private addIndexes(data: readonly Cell[], start: number, end: number): boolean {
    const column = this.column;
    const n = end - start;
    if (indexes.length < n) indexes = new Int32Array(Math.max(n, indexes.length * 2));
    const entriesBefore = this.entries.length;
    let dictionaryBytes = this.dictionaryBytes;
    let valueBytes = this.dictionaryValueBytes;
    let count = this.dictionaryValues;
    const prefix = column.type === 'string' ? 4 : 0;
    const numeric = column.type !== 'string';
    let found = 0;
    for (let i = start; i < end; i++) {
      const v = data[i];
      if (v === null || v === undefined) continue;
      let index = this.lookup.get(v);
      if (index === undefined) {
        checkValue(column, v);
        // Map keys treat -0 as 0: a float column holding -0 goes PLAIN so the sign survives.
        if (numeric && v === 0 && Object.is(v, -0)) return this.rollback(entriesBefore);
        index = this.entries.length;
        this.entries.push(v);
        this.lookup.set(v, index);
        dictionaryBytes += valueSize(v) + prefix;
      }
      valueBytes += valueSize(v) + prefix;
      count += 1;
      indexes[found++] = index;
    }
    const bitWidth = Math.max(1, Math.ceil(Math.log2(this.entries.length)));
    // hyparquet-writer's rule, kept so sizes stay as they were: the dictionary and its
    // bit-packed indexes must at most halve the PLAIN bytes.
    if (
      2 * (dictionaryBytes + Math.ceil((count * bitWidth) / 8)) > valueBytes ||
      this.entries.length > MAX_DICTIONARY_ENTRIES ||
      dictionaryBytes > MAX_DICTIONARY_BYTES
    ) {
      return this.rollback(entriesBefore);
    }
    this.dictionaryBytes = dictionaryBytes;
    this.dictionaryValueBytes = valueBytes;
    this.dictionaryValues = count;
    this.pageEncoding = ENCODING.RLE_DICTIONARY;
    this.addLevels(data, start, end);
    this.pageIndexes = grown(this.pageIndexes, this.pageIndexCount + found);
    this.pageIndexes.set(indexes.subarray(0, found), this.pageIndexCount);
    this.pageIndexCount += found;
    // Indexes cost bitWidth/8 bytes each.
    if ((this.pageIndexCount * bitWidth) / 8 >= PAGE_BYTES) this.endPage();
    return true;
  }

  private rollback(entriesBefore: number): false {
    for (let i = entriesBefore; i < this.entries.length; i++) this.lookup.delete(this.entries[i]);
    this.entries.length = entriesBefore;
    return false;
  }

  private addPlain(data: readonly Cell[], start: number, end: number): void {
    const column = this.column;
    const stats = this.statistics;
    const bool = column.type === 'bool';
    let { min, max } = this;
    this.pageEncoding = ENCODING.PLAIN;
    let row = start;
    while (row < end) {
      const out = (this.pageValues ??= takeSink());
      const from = row;
      for (; row < end && out.pos < PAGE_BYTES; row++) {
        const v = data[row];
        if (v === null || v === undefined) continue;
        checkValue(column, v);
        // Booleans one byte each for now: packed to bits when the page ends.
        if (bool) out.u8(v ? 1 : 0);
        else writePlain(column, v, out);
        // NaN has no place in min/max (the spec's rule); it is stored all the same.
        if (stats && v === v) {
          if (min === null || less(column, v, min)) min = v;
          if (max === null || less(column, max, v)) max = v;
        }
      }
      this.addLevels(data, from, row);
      if (out.pos >= PAGE_BYTES) this.endPage();
    }
    this.min = min;
    this.max = max;
  }

  /** The open page's definition levels, length-prefixed, into the page body. */
  private encodeLevels(): void {
    levels.pos = 0;
    const levelEncoder = new HybridEncoder(levels, 1);
    const rowLevels = this.pageLevels;
    let runValue = rowLevels[0]!;
    let runLength = 0;
    for (let i = 0; i < this.pageRows; i++) {
      if (rowLevels[i] === runValue) runLength += 1;
      else {
        levelEncoder.putRun(runValue, runLength);
        runValue = rowLevels[i]!;
        runLength = 1;
      }
    }
    levelEncoder.putRun(runValue, runLength);
    levelEncoder.finish();
    pageBody.u32(levels.pos);
    pageBody.bytes(levels.buf, 0, levels.pos);
  }

  /** Encodes and compresses the open page, if it has rows. */
  private endPage(): void {
    if (this.pageRows === 0) return;
    pageBody.pos = 0;
    if (!this.column.required) this.encodeLevels();
    if (this.pageEncoding === ENCODING.RLE_DICTIONARY) {
      const bitWidth = Math.max(1, Math.ceil(Math.log2(this.entries.length)));
      pageBody.u8(bitWidth);
      const encoder = new HybridEncoder(pageBody, bitWidth);
      const pageIndexes = this.pageIndexes;
      for (let i = 0; i < this.pageIndexCount; i++) encoder.put(pageIndexes[i]!);
      encoder.finish();
      this.dictionaryPages += 1;
    } else if (this.column.type === 'bool') {
      const bytes = this.pageValues!;
      let byte = 0;
      let bit = 0;
      for (let i = 0; i < bytes.pos; i++) {
        if (bytes.buf[i]) byte |= 1 << bit;
        if (++bit === 8) {
          pageBody.u8(byte);
          byte = 0;
          bit = 0;
        }
      }
      if (bit > 0) pageBody.u8(byte);
    } else if (this.pageValues) {
      pageBody.bytes(this.pageValues.buf, 0, this.pageValues.pos);
    }
    const before = this.pages.pos;
    const headerBytes = encodePage(
      this.pages,
      PAGE.DATA_PAGE,
      this.pageRows,
      this.pageEncoding,
      pageBody.view(),
    );
    this.compressed += this.pages.pos - before;
    this.uncompressed += headerBytes + pageBody.pos;
    this.pageRows = 0;
    this.pageIndexCount = 0;
    if (this.pageValues) {
      releaseSink(this.pageValues);
      this.pageValues = undefined;
    }
    if (this.pageLevels.length > 64 * 1024) this.pageLevels = new Uint8Array(256);
    if (this.pageIndexes.length > 64 * 1024) this.pageIndexes = new Int32Array(0);
  }
}

/** Appends a page (thrift header, then the snappy-compressed body) to `out`; the header's size. */
function encodePage(
  out: ByteSink,
  type: number,
  count: number,
  encoding: number,
  body: Uint8Array,
): number {
  const compressed = snappyCompressTransient(body);
  const start = out.pos;
  const t = new ThriftWriter(out);
  t.i32(1, type).i32(2, body.length).i32(3, compressed.length);
  if (type === PAGE.DATA_PAGE) {
    t.struct(5).i32(1, count).i32(2, encoding).i32(3, ENCODING.RLE).i32(4, ENCODING.RLE).end();
  } else {
    t.struct(7).i32(1, count).i32(2, ENCODING.PLAIN).end();
  }
  t.finish();
  const headerBytes = out.pos - start;
  out.bytes(compressed);
  return headerBytes;
}

/**
 * Buffers of finished column chunks, reused: a new one per chunk was garbage, and Buffers count
 * as external memory that makes V8 collect sooner. Large ones are not kept.
 */
const sinkPool: ByteSink[] = [];
/** What the pool may keep: enough for a row group's chunks, not a thread's worth of garbage. */
const POOLED_BYTES = 16 * 1024 * 1024;
const POOLED_SINK_BYTES = 2 * 1024 * 1024;
let pooledBytes = 0;

function takeSink(): ByteSink {
  // Small to start: validate has a column chunk open per column of every date it writes.
  const sink = sinkPool.pop();
  if (!sink) return new ByteSink(1024);
  pooledBytes -= sink.buf.length;
  sink.pos = 0;
  return sink;
}

function releaseSink(sink: ByteSink): void {
  const size = sink.buf.length;
  if (size > POOLED_SINK_BYTES || pooledBytes + size > POOLED_BYTES) return;
  sinkPool.push(sink);
  pooledBytes += size;
}

/**
 * Encodes a fixed flat schema into a Parquet byte stream. Rows are appended to an open row group,
 * encoded as they come; the row group reaches the target when it is ended.
 * @example
 * const enc = new ParquetEncoder(target, [{ name: 'id', type: 'int' }], { statistics: true });
 * enc.append([[1, 2, null]], 0, 3); enc.endRowGroup(); enc.finish();
 */
export class ParquetEncoder {
  /**
   * Each written row group's footer entry (a thrift RowGroup), encoded as it is written. As
   * objects (a chunk's offsets, sizes and min/max buffers per column) they outweighed the bytes
   * by ten: validate keeps a part per date open for the whole pass, 25 row groups of 14 columns
   * each at 20M rows.
   */
  private readonly groups: Uint8Array[] = [];
  private open: ColumnChunkBuilder[] | undefined;
  /** Rows in the open row group. */
  openRows = 0;
  private rows = 0;

  constructor(
    private readonly target: ByteTarget,
    readonly schema: readonly EncodedColumn[],
    private readonly options: { statistics: boolean },
  ) {
    target.write(Buffer.from('PAR1'));
  }

  /** Appends rows start..start+length of `columns` (schema order) to the open row group. */
  append(columns: readonly (readonly Cell[])[], start: number, length: number): void {
    if (length <= 0) return;
    this.open ??= this.schema.map((c) => new ColumnChunkBuilder(c, this.options.statistics));
    for (let c = 0; c < this.schema.length; c++) {
      this.open[c]!.add(columns[c]!, start, start + length);
    }
    this.openRows += length;
    this.rows += length;
  }

  /** Bytes the open row group holds in memory until it is written (an estimate). */
  heldBytes(): number {
    let bytes = 0;
    for (const builder of this.open ?? []) bytes += builder.heldBytes();
    return bytes;
  }

  /** Writes the open row group, if it has rows. */
  endRowGroup(): void {
    if (!this.open) return;
    const group: RowGroupMeta = { rows: this.openRows, offset: this.target.offset(), chunks: [] };
    this.open.forEach((builder, c) => group.chunks.push(builder.write(this.target, c)));
    this.groups.push(this.encodeRowGroup(group));
    this.open = undefined;
    this.openRows = 0;
  }

  /** A row group's entry in the footer's list of row groups, as its own bytes. */
  private encodeRowGroup(group: RowGroupMeta): Uint8Array {
    const out = rowGroupScratch;
    out.pos = 0;
    const t = new ThriftWriter(out);
    t.element();
    t.list(1, 'struct', group.chunks.length);
    let compressed = 0;
    let uncompressed = 0;
    for (const chunk of group.chunks) {
      const column = this.schema[chunk.column]!;
      compressed += chunk.compressed;
      uncompressed += chunk.uncompressed;
      t.element();
      t.i64(2, chunk.offset);
      t.struct(3);
      t.i32(1, physicalType(column.type));
      const encodings = chunk.dictionary
        ? [ENCODING.PLAIN, ENCODING.RLE, ENCODING.RLE_DICTIONARY]
        : [ENCODING.PLAIN, ENCODING.RLE];
      t.list(2, 'i32', encodings.length);
      for (const e of encodings) t.listI32(e);
      t.list(3, 'binary', 1);
      t.rawBinary(column.name);
      t.i32(4, SNAPPY);
      t.i64(5, chunk.values);
      t.i64(6, chunk.uncompressed);
      t.i64(7, chunk.compressed);
      t.i64(9, chunk.dataOffset);
      if (chunk.dictionaryOffset !== undefined) t.i64(11, chunk.dictionaryOffset);
      t.struct(12);
      t.i64(3, chunk.nulls);
      if (chunk.max) t.binary(5, chunk.max);
      if (chunk.min) t.binary(6, chunk.min);
      t.end();
      t.end(); // meta_data
      t.end(); // ColumnChunk
    }
    t.i64(2, uncompressed);
    t.i64(3, group.rows);
    t.i64(5, group.offset);
    t.i64(6, compressed);
    t.end();
    // A copy of its own: a small Buffer would share (and keep alive) a slab of Node's pool.
    const bytes = new Uint8Array(out.view());
    out.shrink(64 * 1024);
    return bytes;
  }

  /** Ends the open row group and writes the footer. */
  finish(): void {
    this.endRowGroup();
    const out = header;
    out.pos = 0;
    const t = new ThriftWriter(out);
    t.i32(1, 1);
    t.list(2, 'struct', this.schema.length + 1);
    t.element().binary(4, 'root').i32(5, this.schema.length).end();
    for (const column of this.schema) {
      t.element();
      t.i32(1, physicalType(column.type));
      t.i32(3, column.required ? REQUIRED : OPTIONAL);
      t.binary(4, column.name);
      if (column.type === 'string') t.i32(6, CONVERTED.UTF8);
      if (column.type === 'timestamp') t.i32(6, CONVERTED.TIMESTAMP_MILLIS);
      if (column.type === 'string') t.struct(10).struct(1).end().end();
      if (column.type === 'timestamp') {
        // TimestampType { isAdjustedToUTC: true, unit: MILLIS }
        t.struct(10).struct(8).bool(1, true).struct(2).struct(1).end().end().end().end();
      }
      t.end();
    }
    t.i64(3, this.rows);
    t.list(4, 'struct', this.groups.length);
    for (const group of this.groups) out.bytes(group);
    t.binary(6, 'cartpipe');
    // column_orders: TYPE_DEFINED_ORDER for every column, so readers trust min_value/max_value.
    t.list(7, 'struct', this.schema.length);
    for (let i = 0; i < this.schema.length; i++) t.element().struct(1).end().end();
    t.finish();
    const footerLength = out.pos;
    out.u32(footerLength);
    out.bytes(Buffer.from('PAR1'));
    this.target.write(out.view());
    header.shrink(256);
  }
}

function physicalType(type: EncodedType): number {
  switch (type) {
    case 'string':
      return TYPE.BYTE_ARRAY;
    case 'float':
      return TYPE.DOUBLE;
    case 'bool':
      return TYPE.BOOLEAN;
    default:
      return TYPE.INT64;
  }
}

function fail(column: EncodedColumn, v: unknown): never {
  throw new Error(
    `parquet column ${column.name} (${column.type}) cannot hold ${JSON.stringify(v)}`,
  );
}

/** PLAIN encoding of one non-null value (booleans are packed separately). */
function writePlain(column: EncodedColumn, v: Cell, out: ByteSink): void {
  switch (column.type) {
    case 'string': {
      const s = v as string;
      const length = s.length;
      out.ensure(4 + length * 3);
      const buf = out.buf;
      const at = out.pos + 4;
      let n = length;
      // Short ASCII text byte by byte: cheaper than a call into Buffer#write per value.
      if (length <= 64) {
        for (let i = 0; i < length; i++) {
          const code = s.charCodeAt(i);
          if (code >= 0x80) {
            n = -1;
            break;
          }
          buf[at + i] = code;
        }
      } else n = -1;
      if (n < 0) n = buf.write(s, at, 'utf8');
      buf[at - 4] = n & 0xff;
      buf[at - 3] = (n >>> 8) & 0xff;
      buf[at - 2] = (n >>> 16) & 0xff;
      buf[at - 1] = n >>> 24;
      out.pos = at + n;
      return;
    }
    case 'float':
      out.f64(v as number);
      return;
    case 'bool':
      return;
    default:
      out.i64(v as number);
  }
}

/** Throws unless `v` is a value of the column's type. */
function checkValue(column: EncodedColumn, v: Cell): void {
  switch (column.type) {
    case 'string':
      if (typeof v !== 'string') fail(column, v);
      return;
    case 'float':
      if (typeof v !== 'number') fail(column, v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') fail(column, v);
      return;
    default:
      if (!Number.isSafeInteger(v)) fail(column, v);
  }
}

function less(column: EncodedColumn, a: Cell, b: Cell): boolean {
  if (column.type === 'string') return compareText(a as string, b as string) < 0;
  if (column.type === 'bool') return !a && !!b;
  if (column.type === 'float' && a === 0 && b === 0) return Object.is(a, -0) && !Object.is(b, -0);
  return (a as number) < (b as number);
}

/** A statistic as Parquet stores it: the value's PLAIN bytes without a length prefix. */
function statisticBytes(column: EncodedColumn, v: Cell, bound: 'min' | 'max'): Uint8Array {
  switch (column.type) {
    case 'string':
      return Buffer.from(v as string, 'utf8');
    case 'bool':
      return Uint8Array.of(v ? 1 : 0);
    case 'float': {
      const b = Buffer.alloc(8);
      // The spec's rule for signed zeros: min is -0, max is +0.
      const x = v === 0 ? (bound === 'min' ? -0 : 0) : (v as number);
      b.writeDoubleLE(x);
      return b;
    }
    default: {
      const sink = new ByteSink(8);
      sink.i64(v as number);
      return sink.buf.subarray(0, 8);
    }
  }
}

function valueSize(v: Cell): number {
  return typeof v === 'string' ? v.length : 8;
}

/**
 * hyparquet-writer's first test, kept so file sizes stay as they were: a sample of up to 1000
 * values spread over the slice must not be more than 90% distinct (by bytes).
 */
function sampleFavoursDictionary(
  column: EncodedColumn,
  data: readonly Cell[],
  start: number,
  end: number,
): boolean {
  if (column.type === 'bool') return false;
  const n = end - start;
  const prefix = column.type === 'string' ? 4 : 0;
  const sampleSize = Math.min(n, 1000);
  const sampled = new Set<Cell>();
  let distinct = 0;
  let total = 0;
  for (let i = 0; i < sampleSize; i++) {
    const v = data[start + (sampleSize === 1 ? 0 : Math.floor((i * (n - 1)) / (sampleSize - 1)))];
    if (v === null || v === undefined) continue;
    const size = valueSize(v) + prefix;
    total += size;
    if (!sampled.has(v)) {
      sampled.add(v);
      distinct += size;
    }
  }
  return total > 0 && distinct / total <= 0.9;
}
