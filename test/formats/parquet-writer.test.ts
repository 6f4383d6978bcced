import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parquetMetadata, type ColumnChunk, type FileMetaData } from 'hyparquet';
import { deserializeTCompactProtocol } from 'hyparquet/src/thrift.js';
import { seededRandom } from '../helpers/random.js';
import {
  bufferOf,
  encodeParquet,
  ParquetFileWriter,
  readParquet,
  type ColumnDef,
  type Columns,
  type Value,
} from '../../src/formats/parquet.js';

/**
 * Conformance of ParquetFileWriter's output, whatever encodes it: every expected value below is
 * computed from the input data in this file (never from the writer), and read back through two
 * independent readers, hyparquet and DuckDB.
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const ACCENTS = ['', 'é', '北京', '🛒', 'plain', 'ß-Ω', 'e\u0301', 'Zürich'];

const SCHEMA: ColumnDef[] = [
  { name: 'id', type: 'int' }, // row number, never null
  { name: 'i', type: 'int' }, // ~1% null
  { name: 'f', type: 'float' }, // ~50% null
  { name: 'ts', type: 'timestamp' }, // ~1% null
  { name: 'b', type: 'bool' }, // ~10% null
  { name: 'low', type: 'string' }, // low cardinality, ~1% null
  { name: 'high', type: 'string' }, // high cardinality, ~50% null
  { name: 'no_s', type: 'string' }, // all null
  { name: 'no_i', type: 'int' }, // all null
];
const N = 20_000;
const GROUP = 6_000; // 6000, 6000, 6000, 2000

/** The round-trip data set: special values only in the first two row groups, so later groups
 * have min/max that are ordinary values. */
function generate(rows: number, seed: number): Columns {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const orNull = (rate: number, v: Value): Value => (rand() < rate ? null : v);
  const ints = [0, 1, -1, MAX_SAFE, -MAX_SAFE, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, -(2 ** 53) + 2];
  const floats = [-0, 0, 0.1, -0.1, 1 / 3, 1e300, -1e300, 5e-324, -5e-324, 2.5];
  const times = [
    0,
    -1,
    1,
    Date.UTC(1900, 0, 1),
    Date.UTC(1969, 6, 20, 20, 17, 40, 123),
    Date.UTC(2100, 0, 1),
    Date.UTC(2100, 11, 31, 23, 59, 59, 999),
  ];
  const t0 = Date.UTC(1950, 0, 1);
  const t1 = Date.UTC(2099, 0, 1);
  const out: Record<string, Value[]> = Object.fromEntries(SCHEMA.map((c) => [c.name, []]));
  const push = (name: string, v: Value): void => void out[name]!.push(v);
  for (let r = 0; r < rows; r++) {
    const special = r < 2 * GROUP && rand() < 0.03;
    const sign = rand() < 0.5 ? -1 : 1;
    push('id', r);
    push('i', orNull(0.01, special ? pick(ints) : sign * Math.floor(rand() * 2 ** 52)));
    const magnitude = 10 ** Math.floor(rand() * 20 - 10);
    push('f', orNull(0.5, special ? pick(floats) : (rand() - 0.5) * magnitude));
    push('ts', orNull(0.01, special ? pick(times) : Math.floor(t0 + rand() * (t1 - t0))));
    push('b', orNull(0.1, rand() < 0.5));
    push('low', orNull(0.01, pick(ACCENTS)));
    // At most 16 UTF-8 bytes, so min/max statistics are exact under any truncation rule.
    const high =
      r % 4999 === 7 ? '' : `${pick(ACCENTS)}${r.toString(36)}.${Math.floor(rand() * 1e4)}`;
    push('high', orNull(0.5, high));
    push('no_s', null);
    push('no_i', null);
  }
  return out;
}

function write(
  path: string,
  schema: readonly ColumnDef[],
  batches: Columns[],
  options?: { rowGroupSize?: number; statistics?: boolean },
): { rows: number; bytes: number } {
  const writer = new ParquetFileWriter(path, schema, options);
  for (const batch of batches) writer.write(batch);
  return writer.close();
}

async function readAll(path: string): Promise<Columns> {
  const out: Record<string, Value[]> = {};
  for await (const group of readParquet(bufferOf(readFileSync(path)))) {
    for (const [name, values] of Object.entries(group))
      out[name] = (out[name] ?? []).concat(values);
  }
  return out;
}

const metadataOf = (path: string): FileMetaData => parquetMetadata(readFileSync(path));
const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
/** UTF-8 byte order, which is Unicode code point order (what Parquet min/max of text follow). */
const utf8Compare = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * Walks the pages of a column chunk by their Thrift page headers: they must tile the chunk
 * exactly, a dictionary page may only come first, and the data pages' value counts (nulls
 * included) must add up to the row group's rows. Returns the number of data pages.
 */
function walkPages(file: Uint8Array, chunk: ColumnChunk, rows: bigint): number {
  const meta = chunk.meta_data!;
  const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
  const end = start + Number(meta.total_compressed_size);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const reader = { view, offset: start };
  let dataPages = 0;
  let values = 0;
  while (reader.offset < end) {
    const at = reader.offset;
    const header = deserializeTCompactProtocol(reader);
    const type = header.field_1 as number; // 0 DATA_PAGE, 2 DICTIONARY_PAGE, 3 DATA_PAGE_V2
    if (type === 2) {
      expect({ dictionaryPageAt: at, dataPagesBefore: dataPages }).toEqual({
        dictionaryPageAt: Number(meta.dictionary_page_offset),
        dataPagesBefore: 0,
      });
    } else {
      expect([0, 3]).toContain(type);
      if (dataPages === 0) expect(at).toBe(Number(meta.data_page_offset));
      const pageHeader = (type === 0 ? header.field_5 : header.field_8) as { field_1: number };
      values += pageHeader.field_1;
      dataPages++;
    }
    reader.offset += header.field_3 as number; // compressed_page_size
  }
  expect(reader.offset).toBe(end);
  expect(values).toBe(Number(rows));
  return dataPages;
}

interface Expected {
  nulls: number;
  min?: Value;
  max?: Value;
}
/** Null count and min/max of the non-null values, computed here, not by the writer. */
function expectedStats(type: ColumnDef['type'], values: readonly Value[]): Expected {
  const present = values.filter((v) => v !== null);
  const nulls = values.length - present.length;
  if (present.length === 0) return { nulls };
  let cmp: (a: Value, b: Value) => number;
  if (type === 'string') cmp = (a, b) => utf8Compare(a as string, b as string);
  else if (type === 'bool') cmp = (a, b) => Number(a) - Number(b);
  else cmp = (a, b) => (a as number) - (b as number);
  let min = present[0]!;
  let max = present[0]!;
  for (const v of present) {
    if (cmp(v, min) < 0) min = v;
    if (cmp(v, max) > 0) max = v;
  }
  // Parquet: a zero min is written as -0, a zero max as +0.
  if (type === 'float' && min === 0) min = -0;
  if (type === 'float' && max === 0) max = 0;
  return { nulls, min, max };
}

/** A hyparquet-decoded statistic as a pipeline Value (INT64 -> number, timestamp -> epoch ms). */
function statValue(v: unknown): Value | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return v as Value;
}

describe('Parquet writer conformance', () => {
  // Made in beforeAll, not at collection, so a run filtered with -t leaves no directory behind.
  let dir: string;
  let duck: DuckDBConnection;
  let instance: DuckDBInstance;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cartpipe-pqw-'));
    instance = await DuckDBInstance.create(':memory:');
    duck = await instance.connect();
  });
  afterAll(() => {
    duck.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });
  const query = async (sql: string): Promise<Record<string, unknown>[]> =>
    (await duck.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  const one = async (sql: string): Promise<Record<string, unknown>> => (await query(sql))[0]!;
  const duckTypes = async (path: string): Promise<Record<string, unknown>> =>
    Object.fromEntries(
      (await query(`DESCRIBE SELECT * FROM read_parquet('${path}')`)).map((r) => [
        r.column_name,
        r.column_type,
      ]),
    );
  const EXPECTED_DUCK_TYPES = {
    id: 'BIGINT',
    i: 'BIGINT',
    f: 'DOUBLE',
    b: 'BOOLEAN',
    low: 'VARCHAR',
    high: 'VARCHAR',
    no_s: 'VARCHAR',
    no_i: 'BIGINT',
  };

  const data = generate(N, 0x5eed);
  let mainPath: string;
  let mainResult: { rows: number; bytes: number };
  beforeAll(() => {
    mainPath = join(dir, 'types.parquet');
    mainResult = write(mainPath, SCHEMA, [data], { rowGroupSize: GROUP });
  });

  it('generates the data the tests rely on', () => {
    const count = (name: string): number => data[name]!.filter((v) => v === null).length;
    expect(count('id')).toBe(0);
    for (const name of ['i', 'ts', 'low']) expect(count(name)).toBeGreaterThan(100);
    for (const name of ['i', 'ts', 'low']) expect(count(name)).toBeLessThan(400);
    for (const name of ['f', 'high']) expect(Math.abs(count(name) - N / 2)).toBeLessThan(500);
    expect(count('no_s')).toBe(N);
    for (const v of [MAX_SAFE, -MAX_SAFE, 0]) expect(data.i).toContain(v);
    expect(data.f!.some((v) => Object.is(v, -0))).toBe(true);
    for (const v of [5e-324, 1e300, 0.1]) expect(data.f).toContain(v);
    for (const v of ['', '北京', '🛒']) expect(data.low).toContain(v);
    expect(data.high).toContain('');
  });

  it('round-trips every type exactly through hyparquet', async () => {
    expect(mainResult).toEqual({ rows: N, bytes: statSync(mainPath).size });
    const back = await readAll(mainPath);
    expect(Object.keys(back).sort()).toEqual(SCHEMA.map((c) => c.name).sort());
    for (const { name } of SCHEMA) {
      // toEqual tells -0 from 0, so the sign of zero is checked too.
      expect({ name, values: back[name] }).toEqual({ name, values: data[name] });
    }
  });

  it('round-trips every type through DuckDB: types, values and aggregates', async () => {
    const src = `read_parquet('${mainPath}')`;
    const types = await duckTypes(mainPath);
    expect(types).toMatchObject(EXPECTED_DUCK_TYPES);
    expect(['TIMESTAMP WITH TIME ZONE', 'TIMESTAMP']).toContain(types.ts);

    // Every value, in row order (DOUBLE and BIGINT come back exactly; timestamps as epoch ms).
    const all = await query(
      `SELECT id, i, f, epoch_ms(ts) AS ts, b, low, high, no_s, no_i FROM ${src} ORDER BY id`,
    );
    const column = (name: string): Value[] =>
      all.map((r) => {
        const v = r[name];
        return typeof v === 'bigint' ? Number(v) : (v as Value);
      });
    for (const { name } of SCHEMA) {
      expect({ name, values: column(name) }).toEqual({ name, values: data[name] });
    }

    // Aggregates, each against the same aggregate computed here.
    const nonNull = (name: string): Value[] => data[name]!.filter((v) => v !== null);
    const bigSum = (name: string): bigint =>
      nonNull(name).reduce<bigint>((s, v) => s + BigInt(v as number), 0n);
    const joined = (name: string): string => data[name]!.map((v) => v ?? '∅').join('|');
    const agg = await one(`
      SELECT count(*) AS n,
             count(i) AS n_i, sum(i)::HUGEINT AS sum_i, min(i) AS min_i, max(i) AS max_i,
             count(f) AS n_f, min(f) AS min_f, max(f) AS max_f,
             count(ts) AS n_ts, sum(epoch_ms(ts))::HUGEINT AS sum_ts,
             min(epoch_ms(ts)) AS min_ts, max(epoch_ms(ts)) AS max_ts,
             count(b) AS n_b, count(*) FILTER (WHERE b) AS n_true,
             count(low) AS n_low, count(DISTINCT low) AS d_low,
             count(high) AS n_high, count(DISTINCT high) AS d_high,
             count(no_s) AS n_no_s, count(no_i) AS n_no_i,
             md5(string_agg(coalesce(i::VARCHAR, '∅'), '|' ORDER BY id)) AS md5_i,
             md5(string_agg(coalesce(epoch_ms(ts)::VARCHAR, '∅'), '|' ORDER BY id)) AS md5_ts,
             md5(string_agg(coalesce(b::VARCHAR, '∅'), '|' ORDER BY id)) AS md5_b,
             md5(string_agg(coalesce(low, '∅'), '|' ORDER BY id)) AS md5_low,
             md5(string_agg(coalesce(high, '∅'), '|' ORDER BY id)) AS md5_high
      FROM ${src}`);
    const ints = nonNull('i') as number[];
    const floats = nonNull('f') as number[];
    const times = nonNull('ts') as number[];
    expect(agg).toEqual({
      n: BigInt(N),
      n_i: BigInt(ints.length),
      sum_i: bigSum('i'),
      min_i: BigInt(Math.min(...ints)),
      max_i: BigInt(Math.max(...ints)),
      n_f: BigInt(floats.length),
      min_f: Math.min(...floats),
      max_f: Math.max(...floats),
      n_ts: BigInt(times.length),
      sum_ts: bigSum('ts'),
      min_ts: BigInt(Math.min(...times)),
      max_ts: BigInt(Math.max(...times)),
      n_b: BigInt(nonNull('b').length),
      n_true: BigInt(data.b!.filter((v) => v === true).length),
      n_low: BigInt(nonNull('low').length),
      d_low: BigInt(new Set(nonNull('low')).size),
      n_high: BigInt(nonNull('high').length),
      d_high: BigInt(new Set(nonNull('high')).size),
      n_no_s: 0n,
      n_no_i: 0n,
      md5_i: md5(joined('i')),
      md5_ts: md5(joined('ts')),
      md5_b: md5(joined('b')),
      md5_low: md5(joined('low')),
      md5_high: md5(joined('high')),
    });
    expect(agg.min_i).toBe(BigInt(-MAX_SAFE));
    expect(agg.max_i).toBe(BigInt(MAX_SAFE));
  });

  it('lays out row groups of rowGroupSize rows, snappy column chunks and whole pages', () => {
    const file = readFileSync(mainPath);
    const md = parquetMetadata(file);
    expect(md.num_rows).toBe(BigInt(N));
    expect(md.row_groups.map((g) => g.num_rows)).toEqual([6000n, 6000n, 6000n, 2000n]);
    for (const group of md.row_groups) {
      expect(group.columns.map((c) => c.meta_data!.path_in_schema.join('.'))).toEqual(
        SCHEMA.map((c) => c.name),
      );
      for (const chunk of group.columns) {
        expect(chunk.meta_data!.codec).toBe('SNAPPY');
        expect(chunk.meta_data!.num_values).toBe(group.num_rows);
        walkPages(file, chunk, group.num_rows);
      }
      // The data set covers both text paths: a dictionary for the few distinct values, plain
      // values for the mostly distinct ones.
      const encodings = (name: string): string[] =>
        group.columns.find((c) => c.meta_data!.path_in_schema[0] === name)!.meta_data!.encodings;
      expect(encodings('low')).toContain('RLE_DICTIONARY');
      expect(encodings('high')).not.toContain('RLE_DICTIONARY');
      expect(encodings('high')).not.toContain('PLAIN_DICTIONARY');
    }
  });

  it('fills row groups of rowGroupSize across writes, ends one on request, keeps rows in order', async () => {
    const schema: ColumnDef[] = [
      { name: 'n', type: 'int' },
      { name: 's', type: 'string' },
    ];
    const batch = (from: number, count: number): Columns => ({
      n: Array.from({ length: count }, (_, k) => from + k),
      s: Array.from({ length: count }, (_, k) => ((from + k) % 11 === 0 ? null : `s${from + k}`)),
    });

    const single = join(dir, 'groups-single.parquet');
    write(single, schema, [batch(0, 25_000)], { rowGroupSize: 10_000 });
    const md = metadataOf(single);
    expect(md.row_groups.map((g) => g.num_rows)).toEqual([10_000n, 10_000n, 5_000n]);
    expect(md.num_rows).toBe(25_000n);

    const many = join(dir, 'groups-many.parquet');
    const sizes = [7_000, 3_000, 12_000, 1];
    const batches: Columns[] = [];
    let from = 0;
    for (const size of sizes) {
      batches.push(batch(from, size));
      from += size;
    }
    // Writes fill the open row group (7k + 3k), a write spans groups (12k = 10k + 2k), and
    // endRowGroup() writes a short one (2k) before the last row.
    const writer = new ParquetFileWriter(many, schema, { rowGroupSize: 10_000 });
    for (const [i, b] of batches.entries()) {
      if (i === batches.length - 1) writer.endRowGroup();
      writer.write(b);
    }
    const result = writer.close();
    expect(result).toEqual({ rows: from, bytes: statSync(many).size });
    const file = readFileSync(many);
    const mdMany = parquetMetadata(file);
    expect(mdMany.row_groups.map((g) => g.num_rows)).toEqual([10_000n, 10_000n, 2_000n, 1n]);
    expect(mdMany.num_rows).toBe(BigInt(from));
    for (const g of mdMany.row_groups) for (const c of g.columns) walkPages(file, c, g.num_rows);

    // Group by group, the rows come back in the order written.
    const groups: Columns[] = [];
    for await (const group of readParquet(bufferOf(file))) groups.push(group);
    const all = batch(0, from);
    let at = 0;
    for (const group of groups) {
      const size = group.n!.length;
      expect(group).toEqual({ n: all.n!.slice(at, at + size), s: all.s!.slice(at, at + size) });
      at += size;
    }
    expect(at).toBe(from);
  });

  it('writes null_count and min/max per row group and column as computed from the data', async () => {
    const md = metadataOf(mainPath);
    const expected: Record<string, Expected>[] = [];
    let start = 0;
    for (const group of md.row_groups) {
      const end = start + Number(group.num_rows);
      expected.push(
        Object.fromEntries(
          SCHEMA.map((c) => [c.name, expectedStats(c.type, data[c.name]!.slice(start, end))]),
        ),
      );
      start = end;
    }
    // hyparquet decodes INT64 to bigint, timestamps to Date, BYTE_ARRAY to string, BOOLEAN to
    // boolean and DOUBLE to number; statValue maps them back to pipeline values.
    md.row_groups.forEach((group, g) => {
      group.columns.forEach((chunk, c) => {
        const name = SCHEMA[c]!.name;
        const stats = chunk.meta_data!.statistics;
        const want = expected[g]![name]!;
        expect({
          group: g,
          name,
          nulls: stats?.null_count,
          min: statValue(stats?.min_value),
          max: statValue(stats?.max_value),
        }).toEqual({ group: g, name, nulls: BigInt(want.nulls), min: want.min, max: want.max });
      });
    });

    // DuckDB's reading of the same statistics: null counts everywhere, min/max of the int and
    // text columns as it prints them.
    const duckStats = await query(`
      SELECT row_group_id AS g, path_in_schema AS name, stats_null_count AS nulls,
             stats_min_value AS min, stats_max_value AS max
      FROM parquet_metadata('${mainPath}') ORDER BY row_group_id, column_id`);
    expect(duckStats).toHaveLength(md.row_groups.length * SCHEMA.length);
    for (const row of duckStats) {
      const column = SCHEMA.find((c) => c.name === row.name)!;
      const want = expected[Number(row.g)]![column.name]!;
      const at = { g: row.g, name: row.name };
      expect({ ...at, nulls: row.nulls }).toEqual({ ...at, nulls: BigInt(want.nulls) });
      if (column.type === 'int' || column.type === 'string') {
        const text = (v: Value | undefined): string | null => (v === undefined ? null : String(v));
        expect({ ...at, min: row.min, max: row.max }).toEqual({
          ...at,
          min: text(want.min),
          max: text(want.max),
        });
      }
    }
  });

  it('orders text statistics by UTF-8 bytes (code points), not by UTF-16 code units', async () => {
    // JS `<` compares UTF-16 code units, so '😀' (D83D DE00) < '\uFFFD'. In UTF-8 (F0 9F.. vs
    // EF BF BD) and by code point (U+1F600 vs U+FFFD) it is the other way round: Parquet's order.
    expect('😀' < '\uFFFD').toBe(true);
    expect(utf8Compare('😀', '\uFFFD')).toBeGreaterThan(0);
    const symbols = ['\uFFFD', '😀', '\uE000', 'z', '😀a', '\uFFFDz'];
    const rows = 3000;
    const low: Value[] = Array.from({ length: rows }, (_, k) => symbols[k % symbols.length]!);
    const high: Value[] = Array.from({ length: rows }, (_, k) =>
      k % 7 === 3 ? null : `${symbols[k % symbols.length]}${k}`,
    );
    const path = join(dir, 'utf8-order.parquet');
    write(
      path,
      [
        { name: 'low', type: 'string' },
        { name: 'high', type: 'string' },
      ],
      [{ low, high }],
    );

    const md = metadataOf(path);
    expect(md.row_groups).toHaveLength(1);
    const [lowChunk, highChunk] = md.row_groups[0]!.columns;
    expect(lowChunk!.meta_data!.encodings).toContain('RLE_DICTIONARY'); // both text paths
    expect(highChunk!.meta_data!.encodings).not.toContain('RLE_DICTIONARY');
    for (const [chunk, values] of [
      [lowChunk!, low],
      [highChunk!, high],
    ] as const) {
      const want = expectedStats('string', values);
      // The case discriminates: code-unit order would pick another max.
      const jsMax = (values.filter((v) => v !== null) as string[]).reduce((m, v) =>
        v > m ? v : m,
      );
      expect(jsMax).not.toBe(want.max);
      const stats = chunk.meta_data!.statistics!;
      expect({ min: stats.min_value, max: stats.max_value, nulls: stats.null_count }).toEqual({
        min: want.min,
        max: want.max,
        nulls: BigInt(want.nulls),
      });
    }
    const duckStats = await query(
      `SELECT stats_min_value AS min, stats_max_value AS max FROM parquet_metadata('${path}') ORDER BY column_id`,
    );
    expect(duckStats).toEqual([
      { min: expectedStats('string', low).min, max: expectedStats('string', low).max },
      { min: expectedStats('string', high).min, max: expectedStats('string', high).max },
    ]);
    // DuckDB skips row groups by these statistics: the extreme values must still be found.
    for (const [name, values] of [
      ['low', low],
      ['high', high],
    ] as const) {
      const want = expectedStats('string', values);
      for (const bound of [want.min, want.max] as string[]) {
        const { n } = await one(
          `SELECT count(*) AS n FROM read_parquet('${path}') WHERE ${name} = '${bound}'`,
        );
        expect({ name, bound, n }).toEqual({
          name,
          bound,
          n: BigInt(values.filter((v) => v === bound).length),
        });
      }
    }
  });

  it('keeps long text statistics valid bounds (a writer may truncate them)', async () => {
    const rows = 2000;
    const values: Value[] = Array.from(
      { length: rows },
      (_, k) => `${'北京'.repeat(8)}-${String(k).padStart(5, '0')}-${'x'.repeat(30)}`,
    );
    values[1234] = '🛒'.repeat(40);
    const path = join(dir, 'long-text.parquet');
    write(path, [{ name: 's', type: 'string' }], [{ s: values }]);
    const want = expectedStats('string', values);
    // Raw bytes, not decoded text, so a bound cut inside a character would still compare right.
    const md = parquetMetadata(readFileSync(path), {
      parsers: { stringFromBytes: (bytes: Uint8Array) => bytes as unknown as string },
    });
    const stats = md.row_groups[0]!.columns[0]!.meta_data!.statistics!;
    const bytes = (v: unknown): Buffer => Buffer.from(v as Uint8Array);
    expect(
      Buffer.compare(bytes(stats.min_value), Buffer.from(want.min as string)),
    ).toBeLessThanOrEqual(0);
    expect(
      Buffer.compare(bytes(stats.max_value), Buffer.from(want.max as string)),
    ).toBeGreaterThanOrEqual(0);
    const found = await one(`
      SELECT count(*) FILTER (WHERE s = '${want.min as string}') AS at_min,
             count(*) FILTER (WHERE s = '${want.max as string}') AS at_max
      FROM read_parquet('${path}') WHERE s = '${want.min as string}' OR s = '${want.max as string}'`);
    expect(found).toEqual({ at_min: 1n, at_max: 1n });
  });

  it('keeps NaN out of min/max (plain and dictionary chunks) and still stores it', async () => {
    // A KPI rate can be 0/0; readers skipping row groups by min/max must never see NaN there.
    const plain: Value[] = Array.from({ length: 3000 }, (_, i) => (i === 0 ? Number.NaN : i / 7));
    const repeated: Value[] = Array.from({ length: 3000 }, (_, i) =>
      i % 3 === 0 ? Number.NaN : (i % 5) - 2,
    );
    const path = join(dir, 'nan.parquet');
    write(
      path,
      [
        { name: 'plain', type: 'float' },
        { name: 'repeated', type: 'float' },
      ],
      [{ plain, repeated }],
    );
    const [plainChunk, repeatedChunk] = metadataOf(path).row_groups[0]!.columns;
    expect(repeatedChunk!.meta_data!.encodings).toContain('RLE_DICTIONARY');
    expect(plainChunk!.meta_data!.statistics).toMatchObject({
      min_value: 1 / 7,
      max_value: 2999 / 7,
    });
    expect(repeatedChunk!.meta_data!.statistics).toMatchObject({ min_value: -2, max_value: 2 });
    const back = await readAll(path);
    expect(back.plain!.filter((v) => Number.isNaN(v)).length).toBe(1);
    expect(back.repeated!.filter((v) => Number.isNaN(v)).length).toBe(1000);
    expect(back.plain!.slice(1)).toEqual(plain.slice(1));
  });

  it('writes no min/max with statistics: false, and the data still reads back', async () => {
    const path = join(dir, 'no-stats.parquet');
    write(path, SCHEMA, [data], { rowGroupSize: GROUP, statistics: false });
    for (const group of metadataOf(path).row_groups) {
      for (const chunk of group.columns) {
        const stats = chunk.meta_data!.statistics;
        expect([stats?.min_value, stats?.max_value, stats?.min, stats?.max]).toEqual([
          undefined,
          undefined,
          undefined,
          undefined,
        ]);
      }
    }
    expect(
      await one(`
        SELECT count(*) FILTER (WHERE stats_min_value IS NOT NULL OR stats_max_value IS NOT NULL
                                   OR stats_min IS NOT NULL OR stats_max IS NOT NULL) AS with_bounds
        FROM parquet_metadata('${path}')`),
    ).toEqual({ with_bounds: 0n });
    expect(await readAll(path)).toEqual(data);
  });

  it('writes byte-identical files for the same input', () => {
    // Two writers open at once, fed in turn: nothing one does may leak into the other.
    const a = join(dir, 'same-a.parquet');
    const b = join(dir, 'same-b.parquet');
    const wa = new ParquetFileWriter(a, SCHEMA, { rowGroupSize: GROUP });
    const wb = new ParquetFileWriter(b, SCHEMA, { rowGroupSize: GROUP });
    const half = (from: number, to: number): Columns =>
      Object.fromEntries(SCHEMA.map((c) => [c.name, data[c.name]!.slice(from, to)]));
    wa.write(half(0, 9000));
    wb.write(half(0, 9000));
    wa.write(half(9000, N));
    wb.write(half(9000, N));
    wa.close();
    wb.close();
    const [fa, fb] = [readFileSync(a), readFileSync(b)];
    expect(fa.length).toBe(fb.length);
    expect(fa.equals(fb)).toBe(true);
    // The same again for the main file, written once in beforeAll.
    const again = join(dir, 'same-main.parquet');
    write(again, SCHEMA, [data], { rowGroupSize: GROUP });
    expect(readFileSync(again).equals(readFileSync(mainPath))).toBe(true);
  });

  it('writes a valid empty file when closed with no rows', async () => {
    const cases: [string, Columns[]][] = [
      ['no write', []],
      ['zero-length write', [Object.fromEntries(SCHEMA.map((c) => [c.name, []]))]],
    ];
    for (const [label, batches] of cases) {
      const path = join(dir, `empty-${label.replace(/ /g, '-')}.parquet`);
      expect({ label, result: write(path, SCHEMA, batches) }).toEqual({
        label,
        result: { rows: 0, bytes: statSync(path).size },
      });
      const md = metadataOf(path);
      expect({ label, rows: md.num_rows }).toEqual({ label, rows: 0n });
      expect(md.row_groups.reduce((n, g) => n + g.num_rows, 0n)).toBe(0n);
      expect(md.schema.slice(1).map((s) => s.name)).toEqual(SCHEMA.map((c) => c.name));
      const back = await readAll(path);
      expect(Object.values(back).flat()).toEqual([]);
      expect(await one(`SELECT count(*) AS n FROM read_parquet('${path}')`)).toEqual({ n: 0n });
      const types = await duckTypes(path);
      expect(types).toMatchObject(EXPECTED_DUCK_TYPES);
      expect(['TIMESTAMP WITH TIME ZONE', 'TIMESTAMP']).toContain(types.ts);
    }
  });

  it('rejects a batch whose columns differ in length, and writes none of it', async () => {
    const path = join(dir, 'mismatch.parquet');
    const writer = new ParquetFileWriter(path, [
      { name: 'a', type: 'int' },
      { name: 'b', type: 'string' },
    ]);
    writer.write({ a: [1, 2], b: ['x', 'y'] });
    expect(() => writer.write({ a: [3, 4, 5], b: ['z', 'w'] })).toThrow();
    expect(() => writer.write({ a: [3, 4], b: ['z', 'w', 'v'] })).toThrow();
    expect(() => writer.write({ a: [3, 4] })).toThrow();
    writer.write({ a: [6], b: ['u'] });
    expect(writer.close()).toEqual({ rows: 3, bytes: statSync(path).size });
    expect(await readAll(path)).toEqual({ a: [1, 2, 6], b: ['x', 'y', 'u'] });
  });

  // A batch's length is not the first column's alone: an empty first column is no empty batch.
  it('rejects a batch whose first column is empty but the others are not', () => {
    const writer = new ParquetFileWriter(join(dir, 'mismatch-empty-first.parquet'), [
      { name: 'a', type: 'int' },
      { name: 'b', type: 'string' },
    ]);
    try {
      expect(() => writer.write({ a: [], b: ['x', 'y'] })).toThrow();
    } finally {
      writer.abort();
    }
  });

  it('round-trips a 300k-row row group spread over several data pages', async () => {
    const rows = 300_000;
    const rand = seededRandom(300);
    const s: Value[] = new Array<Value>(rows);
    const n: Value[] = new Array<Value>(rows);
    for (let r = 0; r < rows; r++) {
      s[r] =
        r % 997 === 5
          ? null
          : `${ACCENTS[r % ACCENTS.length]}${r}-${Math.floor(rand() * 2 ** 40).toString(36)}`;
      n[r] = r * 1_000_003 - 2 ** 40;
    }
    const path = join(dir, 'big-group.parquet');
    const schema: ColumnDef[] = [
      { name: 's', type: 'string' },
      { name: 'n', type: 'int' },
    ];
    write(path, schema, [{ s, n }], { rowGroupSize: rows });
    const file = readFileSync(path);
    const md = parquetMetadata(file);
    expect(md.row_groups.map((g) => g.num_rows)).toEqual([BigInt(rows)]);
    for (const chunk of md.row_groups[0]!.columns) {
      expect(walkPages(file, chunk, BigInt(rows))).toBeGreaterThan(1);
    }

    const present = s.filter((v) => v !== null) as string[];
    const agg = await one(`
      SELECT count(*) AS rows, count(s) AS n_s, count(DISTINCT s) AS d_s, sum(n)::HUGEINT AS sum_n,
             md5(string_agg(coalesce(s, '∅'), '|' ORDER BY n)) AS md5_s
      FROM read_parquet('${path}')`);
    expect(agg).toEqual({
      rows: BigInt(rows),
      n_s: BigInt(present.length),
      d_s: BigInt(new Set(present).size),
      sum_n: n.reduce<bigint>((sum, v) => sum + BigInt(v as number), 0n),
      md5_s: md5(s.map((v) => v ?? '∅').join('|')),
    });

    const back = await readAll(path);
    let wrong = 0;
    for (let r = 0; r < rows; r++) if (back.s![r] !== s[r] || back.n![r] !== n[r]) wrong++;
    expect({ length: back.s!.length, wrong }).toEqual({ length: rows, wrong: 0 });
  });
  it('falls back from a dictionary to PLAIN inside a chunk when the values stop repeating', async () => {
    // 20k rows from 300 words (a 9-bit dictionary), then 30k distinct values in the same group.
    const rows = 50_000;
    const words: Value[] = Array.from({ length: rows }, (_, r) =>
      r < 20_000 ? `word-${(r * 7919) % 300}` : `unique-${r}-${ACCENTS[r % ACCENTS.length]}`,
    );
    const path = join(dir, 'fallback.parquet');
    write(path, [{ name: 'w', type: 'string' }], [{ w: words }], { rowGroupSize: rows });
    const file = readFileSync(path);
    const chunk = parquetMetadata(file).row_groups[0]!.columns[0]!;
    expect(chunk.meta_data!.encodings).toEqual(expect.arrayContaining(['PLAIN', 'RLE_DICTIONARY']));
    expect(walkPages(file, chunk, BigInt(rows))).toBeGreaterThan(1);
    expect((await readAll(path)).w).toEqual(words);
    const expected = md5(words.join(','));
    const [duckRow] = await query(
      `SELECT count(*) AS n, md5(string_agg(w, ',' ORDER BY rn)) AS digest
       FROM (SELECT w, row_number() OVER () AS rn FROM read_parquet('${path}'))`,
    );
    expect(duckRow).toEqual({ n: BigInt(rows), digest: expected });
  });

  it('writes REQUIRED columns without definition levels, read back exactly by both readers', async () => {
    // The round-trip data with its nulls replaced, one column per type and encoding: r_small
    // and r_low repeat (dictionary pages), r_i and r_high do not (PLAIN), r_i spans +-2^53.
    const fill = (name: string, instead: Value): Value[] => data[name]!.map((v) => v ?? instead);
    const smalls = [0, -1, 7, MAX_SAFE, -MAX_SAFE, 2 ** 32 + 1];
    const columns: Columns = {
      r_id: data.id!,
      r_i: fill('i', -7),
      r_small: data.id!.map((_, r) => smalls[r % smalls.length]!),
      r_f: fill('f', 0.5),
      r_ts: fill('ts', 0),
      r_b: fill('b', false),
      r_low: fill('low', 'x'),
      r_high: fill('high', ''),
      opt_i: data.i!,
    };
    const schema: ColumnDef[] = [
      { name: 'r_id', type: 'int', required: true },
      { name: 'r_i', type: 'int', required: true },
      { name: 'r_small', type: 'int', required: true },
      { name: 'r_f', type: 'float', required: true },
      { name: 'r_ts', type: 'timestamp', required: true },
      { name: 'r_b', type: 'bool', required: true },
      { name: 'r_low', type: 'string', required: true },
      { name: 'r_high', type: 'string', required: true },
      { name: 'opt_i', type: 'int' },
    ];
    const path = join(dir, 'required.parquet');
    write(path, schema, [columns], { rowGroupSize: GROUP });
    const file = readFileSync(path);
    const md = parquetMetadata(file);
    expect(md.schema.slice(1).map((e) => [e.name, e.repetition_type])).toEqual(
      schema.map((c) => [c.name, c.required ? 'REQUIRED' : 'OPTIONAL']),
    );
    const encodings = (name: string) =>
      md.row_groups[0]!.columns[schema.findIndex((c) => c.name === name)]!.meta_data!.encodings;
    expect(encodings('r_small')).toContain('RLE_DICTIONARY');
    expect(encodings('r_i')).not.toContain('RLE_DICTIONARY');
    for (const group of md.row_groups) {
      for (const chunk of group.columns) walkPages(file, chunk, group.num_rows);
    }

    const back = await readAll(path);
    for (const { name } of schema) {
      expect({ name, values: back[name] }).toEqual({ name, values: columns[name] });
    }
    const names = schema.map((c) =>
      c.type === 'timestamp' ? `epoch_ms(${c.name}) AS ${c.name}` : c.name,
    );
    const rows = await query(
      `SELECT ${names.join(', ')} FROM read_parquet('${path}') ORDER BY r_id`,
    );
    for (const { name } of schema) {
      const values = rows.map((r) => (typeof r[name] === 'bigint' ? Number(r[name]) : r[name]));
      expect({ name, values }).toEqual({ name, values: columns[name] });
    }
  });

  it('refuses a null in a REQUIRED column, naming the column', () => {
    const path = join(dir, 'required-null.parquet');
    const writer = new ParquetFileWriter(path, [{ name: 'order_id', type: 'int', required: true }]);
    expect(() => writer.write({ order_id: [1, 2, null] })).toThrow(
      /column order_id is REQUIRED and cannot hold null \(row 2 of the batch\)/,
    );
    writer.abort();
    expect(() =>
      encodeParquet([{ name: 's', type: 'string', required: true }], { s: [null] }),
    ).toThrow(/column s is REQUIRED/);
  });
});

describe('bufferOf', () => {
  it('reads a file that sits inside a larger buffer, from its own offset, without copying it whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cartpipe-bufferof-'));
    try {
      const path = join(dir, 'inner.parquet');
      const ids: Value[] = Array.from({ length: 1000 }, (_, i) => i * 3);
      const writer = new ParquetFileWriter(path, [{ name: 'id', type: 'int' }]);
      writer.write({ id: ids });
      writer.close();
      const bytes = readFileSync(path);
      // The file between 100 junk bytes before and after, as a view that starts at 100.
      const padded = new Uint8Array(bytes.length + 200).fill(0xab);
      padded.set(bytes, 100);
      const view = padded.subarray(100, 100 + bytes.length);
      const file = bufferOf(view);
      expect(file.byteLength).toBe(bytes.length);
      expect(new Uint8Array(await file.slice(0, 4))).toEqual(new Uint8Array(Buffer.from('PAR1')));
      expect(new Uint8Array(await file.slice(-4))).toEqual(new Uint8Array(Buffer.from('PAR1')));
      expect((await file.slice(bytes.length - 8, bytes.length + 50)).byteLength).toBe(8);
      const read: Value[] = [];
      for await (const group of readParquet(file)) read.push(...group.id!);
      expect(read).toEqual(ids);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('encodeParquet', () => {
  it('gives the bytes ParquetFileWriter writes for the same rows in one row group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cartpipe-encode-'));
    try {
      const schema: ColumnDef[] = [
        { name: 'date', type: 'timestamp' },
        { name: 'category', type: 'string' },
        { name: 'revenue', type: 'float' },
        { name: 'orders', type: 'int' },
      ];
      const rows = 25_000; // more than one encoder slice
      const columns: Columns = {
        date: Array.from({ length: rows }, (_, i) => Date.UTC(2024, 0, 1) + (i % 31) * 86_400_000),
        category: Array.from({ length: rows }, (_, i) => (i % 17 === 0 ? null : `cat-${i % 40}`)),
        revenue: Array.from({ length: rows }, (_, i) => (i * 1.25) % 997),
        orders: Array.from({ length: rows }, (_, i) => (i % 9 === 0 ? null : i)),
      };
      const path = join(dir, 'file.parquet');
      const writer = new ParquetFileWriter(path, schema);
      writer.write(columns);
      writer.close();
      const bytes = encodeParquet(schema, columns);
      expect(Buffer.from(bytes).equals(readFileSync(path))).toBe(true);
      const back: Columns = { date: [], category: [], revenue: [], orders: [] };
      for await (const group of readParquet(bufferOf(bytes)))
        for (const c of schema) back[c.name]!.push(...group[c.name]!);
      expect(back).toEqual(columns);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects columns of different lengths', () => {
    expect(() =>
      encodeParquet(
        [
          { name: 'a', type: 'int' },
          { name: 'b', type: 'int' },
        ],
        { a: [1, 2], b: [1] },
      ),
    ).toThrow('parquet batch column b has 1 values, expected 2');
  });
});
