/**
 * Rows kept as bytes while they wait to be written, appended one at a time. validate's output
 * rows wait, a date's worth at a time, until they are spilled to local disk; kept as JS values
 * they outlived a few scavenges each and were copied, then promoted, then collected again by a
 * full collection: a third of what survived validate's scavenges. As bytes they are not the
 * collector's concern, and a row's values die as soon as it is appended.
 *
 * A value is a tag byte and its payload: a 32-bit integer in 4 bytes, any other number in 8, a
 * string as its UTF-8 length and bytes, and a value of a dictionary column (few distinct values,
 * such as a run id) as its index in the dictionary the writer keeps.
 */
import type { Value } from '../formats/parquet.js';

/** A value's first byte: what follows it. */
const TAG = { NULL: 0, INT: 1, FLOAT: 2, STRING: 3, FALSE: 4, TRUE: 5, DICTIONARY: 6 } as const;

/** Distinct values of the dictionary columns, numbered as first seen. */
export class ValueDictionary {
  readonly values: Value[] = [];
  private readonly indexOf = new Map<Value, number>();

  index(value: Value): number {
    let at = this.indexOf.get(value);
    if (at === undefined) {
      at = this.values.push(value) - 1;
      this.indexOf.set(value, at);
    }
    return at;
  }
}

/** Rows appended as bytes; {@link decodeRows} gives them back as columns. */
export class RowBytes {
  private bytes: Buffer;
  private used = 0;
  rows = 0;

  /**
   * @param dictionaryColumns true for the columns whose values go through `dictionary`
   */
  constructor(
    private readonly dictionaryColumns: readonly boolean[],
    private readonly dictionary: ValueDictionary,
    initialBytes = 4096,
  ) {
    this.bytes = Buffer.allocUnsafe(initialBytes);
  }

  /** The rows' bytes so far (a view: valid until the next append). */
  view(): Buffer {
    return this.bytes.subarray(0, this.used);
  }

  /** Appends a row: `values` in column order, one per dictionary flag. */
  append(values: readonly Value[]): void {
    const columns = this.dictionaryColumns.length;
    for (let c = 0; c < columns; c++) {
      const value = values[c];
      if (value === null || value === undefined) {
        this.room(1);
        this.bytes[this.used++] = TAG.NULL;
      } else if (this.dictionaryColumns[c]) {
        this.room(5);
        this.bytes[this.used] = TAG.DICTIONARY;
        this.bytes.writeUInt32LE(this.dictionary.index(value), this.used + 1);
        this.used += 5;
      } else if (typeof value === 'number') {
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.room(5);
          this.bytes[this.used] = TAG.INT;
          this.bytes.writeInt32LE(value, this.used + 1);
          this.used += 5;
        } else {
          this.room(9);
          this.bytes[this.used] = TAG.FLOAT;
          this.bytes.writeDoubleLE(value, this.used + 1);
          this.used += 9;
        }
      } else if (typeof value === 'string') {
        // UTF-8 takes at most 3 bytes per UTF-16 unit.
        this.room(5 + 3 * value.length);
        const length = this.bytes.write(value, this.used + 5, 'utf8');
        this.bytes[this.used] = TAG.STRING;
        this.bytes.writeUInt32LE(length, this.used + 1);
        this.used += 5 + length;
      } else {
        this.room(1);
        this.bytes[this.used++] = value ? TAG.TRUE : TAG.FALSE;
      }
    }
    this.rows += 1;
  }

  private room(extra: number): void {
    if (this.used + extra <= this.bytes.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + extra));
    this.bytes.copy(bigger, 0, 0, this.used);
    this.bytes = bigger;
  }
}

/** `rows` rows of `columns` values that {@link RowBytes} wrote, as one array per column. */
export function decodeRows(
  bytes: Buffer,
  rows: number,
  columns: number,
  dictionary: ValueDictionary,
): Value[][] {
  const out: Value[][] = Array.from({ length: columns }, () => new Array<Value>(rows));
  let at = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const tag = bytes[at++];
      let value: Value;
      switch (tag) {
        case TAG.NULL:
          value = null;
          break;
        case TAG.INT:
          value = bytes.readInt32LE(at);
          at += 4;
          break;
        case TAG.FLOAT:
          value = bytes.readDoubleLE(at);
          at += 8;
          break;
        case TAG.STRING: {
          const length = bytes.readUInt32LE(at);
          value = bytes.toString('utf8', at + 4, at + 4 + length);
          at += 4 + length;
          break;
        }
        case TAG.FALSE:
          value = false;
          break;
        case TAG.TRUE:
          value = true;
          break;
        case TAG.DICTIONARY:
          value = dictionary.values[bytes.readUInt32LE(at)]!;
          at += 4;
          break;
        default:
          throw new Error(`row bytes: unknown tag ${tag} at byte ${at - 1}`);
      }
      out[c]![r] = value;
    }
  }
  if (at !== bytes.length) throw new Error(`row bytes: ${bytes.length - at} bytes left over`);
  return out;
}
