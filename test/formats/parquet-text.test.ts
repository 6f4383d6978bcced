import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { bufferOf, ParquetFileWriter, readParquet, type Value } from '../../src/formats/parquet.js';

/**
 * Text columns reach the writer two ways (src/formats/parquet.ts physical): dictionary
 * candidates as strings, plain columns as pre-encoded UTF-8. Both must read back as written.
 */
describe('Parquet text columns', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-text-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const accents = ['é', 'ß', 'Ω', '北京', '🛒', 'e\u0301', ''];
  const rows = 3000;
  // Every value distinct (plain), a handful repeated (dictionary), and a mix with nulls.
  const unique: Value[] = Array.from({ length: rows }, (_, i) => `${accents[i % 7]}-${i}`);
  const repeated: Value[] = Array.from({ length: rows }, (_, i) => accents[i % 7]!);
  const sparse: Value[] = Array.from({ length: rows }, (_, i) =>
    i % 3 === 0 ? null : `${i}${accents[i % 5]}`,
  );

  it('reads back every value, nulls and empty strings included, in hyparquet and DuckDB', async () => {
    const path = join(dir, 'text.parquet');
    const schema = ['unique', 'repeated', 'sparse'].map((name) => ({
      name,
      type: 'string' as const,
    }));
    const writer = new ParquetFileWriter(path, schema, { rowGroupSize: 1000 });
    writer.write({ unique, repeated, sparse });
    writer.close();

    const back: Record<string, Value[]> = { unique: [], repeated: [], sparse: [] };
    for await (const group of readParquet(bufferOf(readFileSync(path)))) {
      for (const name of Object.keys(back)) back[name]!.push(...group[name]!);
    }
    expect(back).toEqual({ unique, repeated, sparse });

    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    const reader = await duck.runAndReadAll(
      `SELECT count(DISTINCT "unique") AS u, count(DISTINCT repeated) AS r, count(sparse) AS s,
              max(CASE WHEN "unique" = '🛒-4' THEN 1 ELSE 0 END) AS emoji
       FROM read_parquet('${path}')`,
    );
    expect(reader.getRowObjects()[0]).toEqual({ u: 3000n, r: 7n, s: 2000n, emoji: 1 });
    duck.closeSync();
  });

  it('a lone surrogate is written as U+FFFD, as TextEncoder would', async () => {
    const path = join(dir, 'surrogate.parquet');
    const values: Value[] = Array.from({ length: 50 }, (_, i) => `x${i}\ud800`);
    const writer = new ParquetFileWriter(path, [{ name: 'v', type: 'string' }]);
    writer.write({ v: values });
    writer.close();
    const back: Value[] = [];
    for await (const group of readParquet(bufferOf(readFileSync(path)))) back.push(...group.v!);
    expect(back).toEqual(
      values.map((v) => new TextDecoder().decode(new TextEncoder().encode(v as string))),
    );
  });
});
