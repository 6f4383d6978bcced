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
import { PartWriter, SpilledPartWriter } from '../../src/stages/outputs.js';
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

/** The local S3 server the writers upload to (the ParquetFileWriter tests do not use it). */
let t: TestRuntime;
beforeAll(async () => {
  t = await startTestRuntime();
});
afterAll(async () => {
  await t.stop();
});

describe('PartWriter', () => {
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

describe('SpilledPartWriter', () => {
  const spilledSchema: ColumnDef[] = [...schema, { name: 'source', type: 'string' }];
  /** A row with a source column of few values (and nulls), spilled as a dictionary. */
  const spilledRow = (d: number, i: number): Value[] => [
    ...rowOf(d, i),
    i % 5 === 0 ? null : `file-${i % 3}.csv`,
  ];

  /** Rows of `destinations` prefixes round-robin, then each part read back by key. */
  async function write(
    writer: PartWriter | SpilledPartWriter,
    prefix: string,
    destinations: number,
    rows: number,
  ) {
    for (let i = 0; i < rows; i++)
      for (let d = 0; d < destinations; d++)
        writer.appendRow(`${prefix}/d=${d}/`, spilledRow(d, i));
    const keys = await writer.finish();
    const parts = new Map<string, { groups: number[]; read: Value[][] }>();
    for (const key of keys) {
      const file = bufferOf(await t.store.get(key));
      const { metadata } = await parquetInfo(file);
      const read: Value[][] = [];
      for await (const group of readParquet(file))
        group.id!.forEach((id, i) => read.push([id, group.name![i]!, group.source![i]!]));
      parts.set(key, { groups: metadata.row_groups.map((g) => Number(g.num_rows)), read });
    }
    return { keys, parts };
  }

  const options = { sliceRows: 256, maxBufferedRows: 1000, dictionaryColumns: ['source'] };

  it("writes a PartWriter's keys and rows, each destination's part in row groups as large as allowed", async () => {
    const spilled = await write(
      new SpilledPartWriter(t.store, spilledSchema, { rowsPerPart: 1_000_000, ...options }),
      'spilled',
      20,
      3000,
    );
    // The same rows through a PartWriter whose budget makes it cut row groups short.
    const direct = await write(
      new PartWriter(t.store, spilledSchema, {
        rowsPerPart: 1_000_000,
        ...options,
        maxHeldBytes: 256 * 1024,
      }),
      'direct',
      20,
      3000,
    );
    expect(spilled.keys).toEqual(direct.keys.map((k) => k.replace(/^direct\//, 'spilled/')));
    for (let d = 0; d < 20; d++) {
      const expected = Array.from({ length: 3000 }, (_, i) => spilledRow(d, i));
      const part = spilled.parts.get(`spilled/d=${d}/part-00000.parquet`)!;
      expect(part.read).toEqual(expected);
      expect(part.groups).toEqual([3000]);
      expect(direct.parts.get(`direct/d=${d}/part-00000.parquet`)!.groups.length).toBeGreaterThan(
        1,
      );
    }
  });

  it('splits a destination into parts of rowsPerPart rows, in order', async () => {
    const { keys, parts } = await write(
      new SpilledPartWriter(t.store, spilledSchema, { rowsPerPart: 1000, ...options }),
      'split',
      3,
      2500,
    );
    expect(keys).toHaveLength(9);
    for (let d = 0; d < 3; d++) {
      const read = [0, 1, 2].flatMap((n) => parts.get(`split/d=${d}/part-0000${n}.parquet`)!.read);
      expect(read).toEqual(Array.from({ length: 2500 }, (_, i) => spilledRow(d, i)));
    }
  });

  it('leaves no local file behind, after finish() or discard()', async () => {
    const localDir = (w: SpilledPartWriter) => (w as unknown as { dir: string }).dir;
    const finished = new SpilledPartWriter(t.store, spilledSchema, {
      rowsPerPart: 1_000_000,
      ...options,
    });
    finished.appendRow('gone/d=0/', spilledRow(0, 0));
    expect(existsSync(localDir(finished))).toBe(true);
    await finished.finish();
    expect(existsSync(localDir(finished))).toBe(false);

    const discarded = new SpilledPartWriter(t.store, spilledSchema, {
      rowsPerPart: 1_000_000,
      ...options,
    });
    for (let i = 0; i < 5000; i++) discarded.appendRow('dropped/d=0/', spilledRow(0, i));
    discarded.discard();
    expect(existsSync(localDir(discarded))).toBe(false);
    expect(await t.store.head('dropped/d=0/part-00000.parquet')).toBeUndefined();
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
