import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bufferOf,
  parquetInfo,
  ParquetFileWriter,
  readParquet,
  type ColumnDef,
  type Value,
} from '../../src/formats/parquet.js';
import { PartWriter } from '../../src/stages/outputs.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

const schema: ColumnDef[] = [
  { name: 'id', type: 'int' },
  { name: 'name', type: 'string' },
];

/** Row `i` of destination `d`: an id and a text that does not repeat (no dictionary pays). */
const rowOf = (d: number, i: number): Value[] => [
  d * 1_000_000 + i,
  `row ${i} of ${d} ${i * 7919}`,
];

describe('PartWriter', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t.stop();
  });

  /**
   * Appends `rows` rows to each of `destinations` prefixes round-robin (as validate spreads rows
   * over dates), then reads every part back: its row groups' sizes and its rows.
   */
  async function writeRoundRobin(
    prefix: string,
    destinations: number,
    rows: number,
    options: { maxBufferedRows: number; maxHeldBytes: number },
  ) {
    const writer = new PartWriter(t.store, schema, {
      rowsPerPart: 1_000_000,
      sliceRows: 256,
      ...options,
    });
    for (let i = 0; i < rows; i++)
      for (let d = 0; d < destinations; d++) writer.appendRow(`${prefix}/d=${d}/`, rowOf(d, i));
    const keys = await writer.finish();
    const parts: { groups: number[]; read: Value[][] }[] = [];
    for (const key of keys) {
      const file = bufferOf(await t.store.get(key));
      const { metadata } = await parquetInfo(file);
      const read: Value[][] = [];
      for await (const group of readParquet(file))
        group.id!.forEach((id, i) => read.push([id, group.name![i]!]));
      const destination = Number(/\/d=(\d+)\//.exec(key)![1]);
      parts[destination] = { groups: metadata.row_groups.map((g) => Number(g.num_rows)), read };
    }
    expect(keys).toHaveLength(destinations);
    return parts;
  }

  const expectedRows = (d: number, rows: number) =>
    Array.from({ length: rows }, (_, i) => rowOf(d, i));

  it('encodes buffers into open row groups without ending them while they fit the byte budget', async () => {
    const parts = await writeRoundRobin('roomy', 20, 3000, {
      maxBufferedRows: 1000,
      maxHeldBytes: 256 * 1024 * 1024,
    });
    parts.forEach((part, d) => {
      // Buffers were encoded every ~50 rows a destination; the row group still holds them all.
      expect(part.groups).toEqual([3000]);
      expect(part.read).toEqual(expectedRows(d, 3000));
    });
  });

  it('writes out the largest open row groups when all hold more bytes than allowed', async () => {
    const parts = await writeRoundRobin('tight', 20, 3000, {
      maxBufferedRows: 1000,
      maxHeldBytes: 256 * 1024,
    });
    parts.forEach((part, d) => {
      expect(part.groups.length).toBeGreaterThan(1);
      expect(part.groups.reduce((a, b) => a + b, 0)).toBe(3000);
      expect(part.read).toEqual(expectedRows(d, 3000));
    });
  });
});

describe('ParquetFileWriter.heldBytes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-held-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('covers what the open row group adds to the file, and drops to 0 once it is written', () => {
    const path = join(dir, 'held.parquet');
    const writer = new ParquetFileWriter(path, schema, { rowGroupSize: 1_000_000 });
    const rows = 50_000;
    writer.write({
      id: Array.from({ length: rows }, (_, i) => i),
      name: Array.from({ length: rows }, (_, i) => `row ${i} of 0 ${i * 7919}`),
    });
    const held = writer.heldBytes();
    const before = statSync(path).size;
    writer.endRowGroup();
    const added = statSync(path).size - before;
    expect(added).toBeGreaterThan(100_000);
    expect(held).toBeGreaterThanOrEqual(added);
    expect(writer.heldBytes()).toBe(0);
    writer.close();
  });
});

describe('ParquetFileWriter in memory (inMemoryUpTo)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-in-memory-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const columnsOf = (rows: number) => ({
    id: Array.from({ length: rows }, (_, i) => i),
    name: Array.from({ length: rows }, (_, i) => `row ${i} of 0 ${i * 7919}`),
  });
  /** The same rows through a writer that always makes a file: the bytes to expect. */
  const fileBytes = (name: string, rows: number): Buffer => {
    const path = join(dir, name);
    const writer = new ParquetFileWriter(path, schema);
    writer.write(columnsOf(rows));
    writer.close();
    return readFileSync(path);
  };

  it('returns a small file as bytes, the same bytes a file gets, and creates no file', () => {
    const path = join(dir, 'small.parquet');
    const writer = new ParquetFileWriter(path, schema, { inMemoryUpTo: 1024 * 1024 });
    writer.write(columnsOf(2_000));
    const { data, bytes } = writer.close();
    expect(existsSync(path)).toBe(false);
    expect(data).toBeDefined();
    expect(data!.length).toBe(bytes);
    expect(Buffer.from(data!).equals(fileBytes('small-file.parquet', 2_000))).toBe(true);
  });

  it('makes the file when the part outgrows the limit, a row group ends early, or close(false)', () => {
    const big = join(dir, 'big.parquet');
    const bigWriter = new ParquetFileWriter(big, schema, { inMemoryUpTo: 10_000 });
    bigWriter.write(columnsOf(20_000));
    expect(bigWriter.close().data).toBeUndefined();
    expect(readFileSync(big).equals(fileBytes('big-file.parquet', 20_000))).toBe(true);

    const early = join(dir, 'early.parquet');
    const earlyWriter = new ParquetFileWriter(early, schema, { inMemoryUpTo: 1024 * 1024 });
    earlyWriter.write(columnsOf(100));
    earlyWriter.endRowGroup(); // memory would otherwise hold finished row groups of open parts
    expect(existsSync(early)).toBe(true);
    expect(earlyWriter.close().data).toBeUndefined();

    const refused = join(dir, 'refused.parquet');
    const refusedWriter = new ParquetFileWriter(refused, schema, { inMemoryUpTo: 1024 * 1024 });
    refusedWriter.write(columnsOf(100));
    expect(refusedWriter.close(false).data).toBeUndefined();
    expect(readFileSync(refused).equals(fileBytes('refused-file.parquet', 100))).toBe(true);
  });
});
