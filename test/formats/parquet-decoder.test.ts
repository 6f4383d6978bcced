import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { PAGE_ROWS } from '../../src/formats/parquet-encoder.js';
import { isOwnFile } from '../../src/formats/parquet-decoder.js';
import {
  bufferOf,
  columnChunkRanges,
  ParquetFileWriter,
  readFooter,
  readParquet,
  sparseBufferOf,
  type ColumnDef,
  type Columns,
  type Value,
} from '../../src/formats/parquet.js';
import { seededRandom } from '../helpers/random.js';

/**
 * The pipeline's own Parquet decoder against hyparquet, an independent reader, on the same
 * files: every value of every type, with and without nulls, PLAIN and dictionary pages, several
 * pages a chunk and several row groups.
 */

const SCHEMA: ColumnDef[] = [
  { name: 'id', type: 'int', required: true },
  { name: 'i', type: 'int' },
  { name: 'f', type: 'float' },
  { name: 'ts', type: 'timestamp' },
  { name: 'b', type: 'bool' },
  { name: 'rb', type: 'bool', required: true },
  { name: 'low', type: 'string' },
  { name: 'rlow', type: 'string', required: true },
  { name: 'high', type: 'string' },
  { name: 'none', type: 'string' },
];

/** Long enough that a row group's high-cardinality text takes several 1 MB pages. */
const PAD = '-'.repeat(40);

function generate(rows: number): Columns {
  const rand = seededRandom(0xdec0de);
  const words = ['', 'é', '北京', '🛒', 'plain', 'ß-Ω', 'e\u0301', 'Zürich', 'a\u0000b'];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const orNull = (rate: number, v: Value): Value => (rand() < rate ? null : v);
  const ints = [0, -1, 2 ** 32, -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER];
  const out: Record<string, Value[]> = Object.fromEntries(SCHEMA.map((c) => [c.name, []]));
  for (let r = 0; r < rows; r++) {
    out.id!.push(r);
    out.i!.push(orNull(0.1, r % 50 === 0 ? pick(ints) : Math.floor((rand() - 0.5) * 2 ** 40)));
    out.f!.push(orNull(0.3, r % 70 === 0 ? pick([-0, 0.1, 1e300, 5e-324]) : rand() * 1e6));
    out.ts!.push(orNull(0.05, Math.floor(Date.UTC(1960, 0, 1) + rand() * 4e12)));
    out.b!.push(orNull(0.2, rand() < 0.5));
    out.rb!.push(rand() < 0.3);
    out.low!.push(orNull(0.4, pick(words)));
    out.rlow!.push(pick(words));
    out.high!.push(
      orNull(0.3, `${pick(words)}-${r.toString(36)}-${Math.floor(rand() * 1e6)}${PAD}`),
    );
    out.none!.push(null);
  }
  return out;
}

async function readOurs(path: string): Promise<Record<string, Value[]>> {
  const out: Record<string, Value[]> = {};
  for await (const group of readParquet(bufferOf(readFileSync(path)))) {
    for (const [name, values] of Object.entries(group)) {
      out[name] = (out[name] ?? []).concat(values);
    }
  }
  return out;
}

/** hyparquet's reading of the same file, as the same logical values. */
async function readHyparquet(path: string): Promise<Record<string, Value[]>> {
  const rows = (await parquetReadObjects({
    file: bufferOf(readFileSync(path)),
    parsers: { timestampFromMilliseconds: (ms: bigint | number) => Number(ms) } as never,
  })) as Record<string, unknown>[];
  const names = Object.keys(rows[0] ?? {});
  return Object.fromEntries(
    names.map((n) => [
      n,
      rows.map((r) => {
        const v = r[n];
        return v === undefined ? null : typeof v === 'bigint' ? Number(v) : (v as Value);
      }),
    ]),
  );
}

describe('the pipeline Parquet decoder', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cartpipe-pqd-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('decodes every type, null and encoding as written, and as hyparquet reads it', async () => {
    const rows = 70_000;
    const data = generate(rows);
    const path = join(dir, 'all.parquet');
    const writer = new ParquetFileWriter(path, SCHEMA, { rowGroupSize: 30_000 });
    writer.write(data);
    writer.close();
    const metadata = parquetMetadata(readFileSync(path));
    expect(
      isOwnFile(
        metadata,
        SCHEMA.map((c) => c.name),
      ),
    ).toBe(true);
    expect(metadata.row_groups).toHaveLength(3);
    const encodings = new Set(
      metadata.row_groups.flatMap((g) => g.columns.flatMap((c) => c.meta_data!.encodings)),
    );
    expect([...encodings].sort()).toEqual(['PLAIN', 'RLE', 'RLE_DICTIONARY']);
    const high = SCHEMA.findIndex((c) => c.name === 'high');
    // Over the encoder's 1 MiB a page: the first two groups' chunks have two pages or more.
    for (const group of metadata.row_groups.slice(0, 2)) {
      const meta = group.columns[high]!.meta_data!;
      expect(meta.encodings).not.toContain('RLE_DICTIONARY');
      expect(Number(meta.total_uncompressed_size)).toBeGreaterThan(1.1 * 1024 * 1024);
    }
    const ours = await readOurs(path);
    for (const { name } of SCHEMA) {
      // toEqual tells -0 from 0.
      expect({ name, values: ours[name] }).toEqual({ name, values: data[name] });
    }
    const theirs = await readHyparquet(path);
    for (const { name } of SCHEMA) {
      expect({ name, values: ours[name] }).toEqual({ name, values: theirs[name] });
    }
  });

  it('reads only the columns asked for, absent ones as null', async () => {
    const data = generate(500);
    const path = join(dir, 'some.parquet');
    const writer = new ParquetFileWriter(path, SCHEMA);
    writer.write(data);
    writer.close();
    const groups: Columns[] = [];
    for await (const g of readParquet(bufferOf(readFileSync(path)), {
      columns: ['rlow', 'missing', 'i'],
    })) {
      groups.push(g);
    }
    expect(groups).toHaveLength(1);
    expect(Object.keys(groups[0]!)).toEqual(['rlow', 'missing', 'i']);
    expect(groups[0]!.rlow).toEqual(data.rlow);
    expect(groups[0]!.i).toEqual(data.i);
    expect(groups[0]!.missing).toEqual(new Array(500).fill(null));
  });

  /** `rows` generated rows written to `name` in row groups of `rowGroupSize`. */
  function writeSample(name: string, rows: number, rowGroupSize: number) {
    const data = generate(rows);
    const path = join(dir, name);
    const writer = new ParquetFileWriter(path, SCHEMA, { rowGroupSize });
    writer.write(data);
    writer.close();
    return { data, bytes: readFileSync(path) };
  }

  it("ends every column's pages at the same rows, PAGE_ROWS apart", () => {
    const { bytes } = writeSample('pages.parquet', 30_000, 30_000);
    const [group] = parquetMetadata(bytes).row_groups;
    for (const [index, { name }] of SCHEMA.entries()) {
      const meta = group!.columns[index]!.meta_data!;
      const reader = {
        view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        offset: Number(meta.dictionary_page_offset ?? meta.data_page_offset),
      };
      const end = reader.offset + Number(meta.total_compressed_size);
      const pageEnds: number[] = [];
      let rows = 0;
      while (reader.offset < end) {
        const header = parquetHeader(reader);
        reader.offset += header.compressed_page_size;
        if (header.type !== 'DATA_PAGE') continue;
        rows += header.data_page_header!.num_values;
        pageEnds.push(rows);
      }
      expect({ name, pageEnds }).toEqual({
        name,
        pageEnds: [PAGE_ROWS, 2 * PAGE_ROWS, 3 * PAGE_ROWS, 30_000],
      });
    }
  });

  it('hands out row groups in batches of the rows asked for, pages split across batches', async () => {
    const { data, bytes } = writeSample('batches.parquet', 30_000, 20_000);
    const file = bufferOf(bytes);
    for (const batchRows of [PAGE_ROWS, 5_000, 1]) {
      const sizes: number[] = [];
      const read: Record<string, Value[]> = Object.fromEntries(SCHEMA.map((c) => [c.name, []]));
      for await (const batch of readParquet(file, { batchRows })) {
        sizes.push(batch.id!.length);
        for (const { name } of SCHEMA) for (const v of batch[name]!) read[name]!.push(v);
      }
      // Never across a row group's end (20,000 + 10,000 rows).
      const expected = [20_000, 10_000].flatMap((rows) =>
        Array.from({ length: Math.ceil(rows / batchRows) }, (_, i) =>
          Math.min(batchRows, rows - i * batchRows),
        ),
      );
      expect({ batchRows, sizes }).toEqual({ batchRows, sizes: expected });
      for (const { name } of SCHEMA) {
        expect({ batchRows, name, values: read[name] }).toEqual({
          batchRows,
          name,
          values: data[name],
        });
      }
    }
  });

  it('reads the chunks of the columns asked for, fetched alone by ranges, as from the whole file', async () => {
    const { data, bytes } = writeSample('ranges.parquet', 30_000, 20_000);
    const fetched: [number, number][] = [];
    const fetch = (start: number, end: number) => {
      fetched.push([start, end]);
      return bytes.subarray(start, end);
    };
    const metadata = await readFooter({
      byteLength: bytes.byteLength,
      slice: (start, end = bytes.byteLength) => {
        const b = fetch(start, end);
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
      },
    });
    expect(fetched).toHaveLength(1); // the footer, in one read from the end
    const columns = ['high', 'id', 'rb'];
    const chunkOf = (group: number, name: string) => {
      const meta =
        metadata.row_groups[group]!.columns[SCHEMA.findIndex((c) => c.name === name)]!.meta_data!;
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
      return [start, start + Number(meta.total_compressed_size)] as [number, number];
    };
    // No gap allowed: one range per chunk, except chunks that touch (id and i, b and rb are
    // neighbours in the schema; only id and rb are asked for, so none touch here).
    const exact = columnChunkRanges(metadata, columns, 0);
    expect(exact).toEqual(
      [0, 1].flatMap((g) => columns.map((c) => chunkOf(g, c))).sort((a, b) => a[0] - b[0]),
    );
    // A gap larger than the file: one range from the first chunk to the last.
    const joined = columnChunkRanges(metadata, columns, bytes.byteLength);
    expect(joined).toEqual([[exact[0]![0], exact.at(-1)![1]]]);

    const pieces = exact.map(([start, end]) => ({ start, bytes: fetch(start, end) }));
    const sparse = sparseBufferOf(bytes.byteLength, pieces);
    const read: Record<string, Value[]> = Object.fromEntries(columns.map((c) => [c, []]));
    for await (const batch of readParquet(sparse, { columns, batchRows: PAGE_ROWS, metadata })) {
      for (const c of columns) for (const v of batch[c]!) read[c]!.push(v);
    }
    for (const c of columns) expect({ c, values: read[c] }).toEqual({ c, values: data[c] });
    // Fewer bytes than the file: the other seven columns were never fetched.
    const fetchedBytes = fetched.reduce((sum, [start, end]) => sum + (end - start), 0);
    expect(fetchedBytes).toBeLessThan(bytes.byteLength * 0.6);
    // A column whose chunks were not fetched is a caller's bug, not a wrong answer.
    const [lowStart, lowEnd] = chunkOf(0, 'low');
    expect(() => sparse.view(lowStart, lowEnd)).toThrow(RangeError);
    const more = readParquet(sparse, { columns: ['low'], metadata });
    await expect(more.next()).rejects.toThrow(/were not fetched/);
  });

  it('leaves Parquet written by other tools to hyparquet, with the same values', async () => {
    const path = join(dir, 'duckdb.parquet');
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    await db.run(
      `COPY (SELECT range AS id, CASE WHEN range % 3 = 0 THEN NULL ELSE 'v' || range END AS s
             FROM range(5000)) TO '${path}' (FORMAT parquet)`,
    );
    db.closeSync();
    instance.closeSync();
    const metadata = parquetMetadata(readFileSync(path));
    expect(metadata.created_by).toMatch(/duckdb/i);
    expect(isOwnFile(metadata, ['id', 's'])).toBe(false);
    const ours = await readOurs(path);
    expect(ours.id).toEqual(Array.from({ length: 5000 }, (_, r) => r));
    expect(ours.s).toEqual(Array.from({ length: 5000 }, (_, r) => (r % 3 === 0 ? null : `v${r}`)));
  });
});
