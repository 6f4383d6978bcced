/**
 * A reader for the Parquet files the pipeline writes itself (./parquet-encoder.ts): flat
 * REQUIRED or OPTIONAL columns, data pages v1, PLAIN or RLE_DICTIONARY values, snappy. It makes
 * each value straight from the page into the row group's column array.
 *
 * Why not hyparquet for these: hyparquet reads any Parquet, and on the way makes a Uint8Array
 * and a TextDecoder call per text value and rebuilds an OPTIONAL column value by value around its
 * nulls; on raw/ (all text, all OPTIONAL) that was ~40% of what validate's threads allocated.
 * Files written by anything else, or using anything this does not know, go to hyparquet
 * (see {@link isOwnFile}). Page headers and the RLE/bit-packed hybrid are hyparquet's, snappy is
 * hysnappy's WebAssembly build (./snappy.ts).
 */
import {
  type AsyncBuffer,
  type FileMetaData,
  type PageHeader,
  type SchemaElement,
} from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { snappyUncompressInto } from './snappy.js';
import type { BytesBuffer, Value } from './parquet.js';

/** The encoder's `created_by`. */
const OWN_WRITER = 'cartpipe';
const KNOWN_ENCODINGS = new Set(['PLAIN', 'RLE', 'RLE_DICTIONARY']);

type Kind = 'string' | 'int' | 'float' | 'bool';

/** How a column's values are stored, or undefined when it is not one this reader knows. */
function kindOf(element: SchemaElement): Kind | undefined {
  if (element.repetition_type !== 'REQUIRED' && element.repetition_type !== 'OPTIONAL') {
    return undefined;
  }
  switch (element.type) {
    case 'BYTE_ARRAY':
      return element.converted_type === 'UTF8' ? 'string' : undefined;
    case 'INT64': {
      if (element.converted_type === undefined && element.logical_type === undefined) return 'int';
      // Timestamps in milliseconds are the numbers the pipeline uses for them.
      const millis =
        element.converted_type === 'TIMESTAMP_MILLIS' &&
        (element.logical_type === undefined ||
          (element.logical_type.type === 'TIMESTAMP' && element.logical_type.unit === 'MILLIS'));
      return millis ? 'int' : undefined;
    }
    case 'DOUBLE':
      return element.converted_type === undefined ? 'float' : undefined;
    case 'BOOLEAN':
      return 'bool';
    default:
      return undefined;
  }
}

/**
 * true when this reader can decode `columns` of the file: written by the pipeline's encoder,
 * flat, snappy, and encoded only as the encoder does.
 */
export function isOwnFile(metadata: FileMetaData, columns: readonly string[]): boolean {
  if (metadata.created_by !== OWN_WRITER) return false;
  const elements = metadata.schema.slice(1);
  if (elements.some((e) => e.num_children)) return false;
  for (const name of columns) {
    const index = elements.findIndex((e) => e.name === name);
    if (index < 0 || kindOf(elements[index]!) === undefined) return false;
    for (const group of metadata.row_groups) {
      const meta = group.columns[index]?.meta_data;
      if (!meta || meta.codec !== 'SNAPPY') return false;
      if (meta.encodings.some((e) => !KNOWN_ENCODINGS.has(e))) return false;
    }
  }
  return true;
}

// Scratch arrays reused page after page: a page's values are copied out before the next.
let pageBytes = new Uint8Array(1024 * 1024);
let levels = new Uint8Array(16 * 1024);
let indexes = new Int32Array(16 * 1024);
/** A page's decoded values before they take their rows (its strings are dropped page by page). */
const values: Value[] = [];
function decoded(count: number): Value[] {
  values.length = count;
  return values;
}

function uncompressed(compressed: Uint8Array, size: number): Uint8Array {
  if (pageBytes.length < size) pageBytes = new Uint8Array(Math.max(size, pageBytes.length * 2));
  const out = pageBytes.subarray(0, size);
  snappyUncompressInto(compressed, out);
  return out;
}

/** `count` PLAIN values of `kind` from `page` at `offset`, into `out` from index `at`. */
function readPlain(
  page: Uint8Array,
  offset: number,
  count: number,
  kind: Kind,
  out: Value[],
  at = 0,
): void {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  switch (kind) {
    case 'string': {
      const text = Buffer.from(page.buffer, page.byteOffset, page.byteLength);
      for (let i = 0; i < count; i++) {
        const length = view.getUint32(offset, true);
        offset += 4;
        out[at + i] = text.toString('utf8', offset, offset + length);
        offset += length;
      }
      return;
    }
    case 'int':
      // The low half unsigned, the high half signed: exact within +-2^53, as hyparquet's Number().
      for (let i = 0; i < count; i++, offset += 8) {
        out[at + i] = view.getInt32(offset + 4, true) * 4294967296 + view.getUint32(offset, true);
      }
      return;
    case 'float':
      for (let i = 0; i < count; i++, offset += 8) out[at + i] = view.getFloat64(offset, true);
      return;
    case 'bool':
      for (let i = 0; i < count; i++)
        out[at + i] = ((page[offset + (i >> 3)]! >> (i & 7)) & 1) === 1;
      return;
  }
}

/**
 * A column chunk read page by page: {@link ChunkCursor.take} hands out its next values, decoding
 * pages as it needs them. A page that runs past what was asked is decoded whole and its rest
 * kept for the next call: the encoder ends pages every PAGE_ROWS rows in every column, so that
 * happens only with batches of another size, or with parts written before it capped pages.
 */
class ChunkCursor {
  private readonly reader: { view: DataView; offset: number };
  private readonly optional: boolean;
  private dictionary: Value[] | undefined;
  private rest: Value[] = [];
  private restAt = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly element: SchemaElement,
    private readonly kind: Kind,
  ) {
    this.reader = {
      view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      offset: 0,
    };
    this.optional = element.repetition_type === 'OPTIONAL';
  }

  /** The chunk's next `count` values into `target` from index `at`. */
  take(target: Value[], at: number, count: number): void {
    while (count > 0 && this.restAt < this.rest.length) {
      target[at++] = this.rest[this.restAt++]!;
      count -= 1;
    }
    while (count > 0) {
      const page = this.nextDataPage();
      if (!page) {
        throw new Error(
          `parquet column ${this.element.name}: fewer values than the row group's rows`,
        );
      }
      if (page.count <= count) {
        this.decodePage(page.header, page.bytes, target, at);
        at += page.count;
        count -= page.count;
      } else {
        this.rest = new Array<Value>(page.count);
        this.decodePage(page.header, page.bytes, this.rest, 0);
        for (this.restAt = 0; this.restAt < count; this.restAt++) {
          target[at + this.restAt] = this.rest[this.restAt]!;
        }
        count = 0;
      }
    }
  }

  /** true once every value was handed out. */
  get done(): boolean {
    return this.restAt >= this.rest.length && this.reader.offset >= this.bytes.byteLength;
  }

  /** The next data page, uncompressed into the shared scratch (dictionary pages read on the way). */
  private nextDataPage(): { header: PageHeader; bytes: Uint8Array; count: number } | undefined {
    const { reader, bytes, element } = this;
    while (reader.offset < bytes.byteLength) {
      const header = parquetHeader(reader);
      const compressed = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
      reader.offset += header.compressed_page_size;
      const page = uncompressed(compressed, header.uncompressed_page_size);
      if (header.type === 'DICTIONARY_PAGE') {
        const entries = header.dictionary_page_header!.num_values;
        this.dictionary = new Array<Value>(entries);
        readPlain(page, 0, entries, this.kind, this.dictionary);
        continue;
      }
      if (header.type !== 'DATA_PAGE' || !header.data_page_header) {
        throw new Error(`parquet column ${element.name}: unexpected ${header.type} page`);
      }
      return { header, bytes: page, count: header.data_page_header.num_values };
    }
    return undefined;
  }

  /** A data page's values into `target` from index `row`. */
  private decodePage(header: PageHeader, page: Uint8Array, target: Value[], row: number): void {
    const { element, kind, optional, dictionary } = this;
    const count = header.data_page_header!.num_values;
    const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
    let offset = 0;
    let defined = count;
    if (optional) {
      if (levels.length < count) levels = new Uint8Array(Math.max(count, levels.length * 2));
      const length = view.getUint32(0, true);
      const pageLevels = levels.subarray(0, count);
      readRleBitPackedHybrid({ view, offset: 4 }, 1, pageLevels, length);
      offset = 4 + length;
      defined = 0;
      for (let i = 0; i < count; i++) defined += pageLevels[i]!;
    }
    const encoding = header.data_page_header!.encoding;
    if (encoding === 'RLE_DICTIONARY' || encoding === 'PLAIN_DICTIONARY') {
      if (!dictionary) throw new Error(`parquet column ${element.name}: no dictionary page`);
      const width = page[offset]!;
      if (indexes.length < defined) indexes = new Int32Array(Math.max(defined, indexes.length * 2));
      const pageIndexes = indexes.subarray(0, defined);
      if (width === 0) pageIndexes.fill(0);
      else {
        readRleBitPackedHybrid(
          { view, offset: offset + 1 },
          width,
          pageIndexes,
          page.length - offset - 1,
        );
      }
      for (let i = 0, k = 0; i < count; i++) {
        target[row + i] = !optional || levels[i] ? (dictionary[pageIndexes[k++]!] ?? null) : null;
      }
    } else if (encoding === 'PLAIN') {
      if (!optional) {
        readPlain(page, offset, count, kind, target, row);
      } else {
        const valuesOfPage = decoded(defined);
        readPlain(page, offset, defined, kind, valuesOfPage);
        for (let i = 0, k = 0; i < count; i++)
          target[row + i] = levels[i] ? valuesOfPage[k++]! : null;
      }
    } else {
      throw new Error(`parquet column ${element.name}: unexpected ${encoding} encoding`);
    }
  }
}

/**
 * Decodes `columns` of row group `group` of an own file ({@link isOwnFile}) in batches of at most
 * `batchRows` rows (the whole row group by default), each a fresh set of arrays.
 */
export async function* decodeOwnRowGroup(
  file: AsyncBuffer,
  metadata: FileMetaData,
  group: number,
  columns: readonly string[],
  batchRows = Infinity,
): AsyncGenerator<Record<string, Value[]>> {
  const elements = metadata.schema.slice(1);
  const rowGroup = metadata.row_groups[group]!;
  const rows = Number(rowGroup.num_rows);
  const cursors = new Map<string, ChunkCursor>();
  for (const name of columns) {
    const index = elements.findIndex((e) => e.name === name);
    if (index < 0) continue; // absent from the file: read as null
    const element = elements[index]!;
    const meta = rowGroup.columns[index]!.meta_data!;
    const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
    const end = start + Number(meta.total_compressed_size);
    const bytes =
      'view' in file
        ? (file as BytesBuffer).view(start, end)
        : new Uint8Array(await file.slice(start, end));
    cursors.set(name, new ChunkCursor(bytes, element, kindOf(element)!));
  }
  for (let from = 0; from < rows; from += batchRows) {
    const count = Math.min(batchRows, rows - from);
    const out: Record<string, Value[]> = {};
    for (const name of columns) {
      const target = new Array<Value>(count).fill(null);
      cursors.get(name)?.take(target, 0, count);
      out[name] = target;
    }
    yield out;
  }
  for (const [name, cursor] of cursors) {
    if (!cursor.done)
      throw new Error(`parquet column ${name}: more values than the row group's rows`);
  }
}
