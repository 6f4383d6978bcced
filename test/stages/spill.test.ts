import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Columns, Value } from '../../src/formats/parquet.js';
import { readSpill, spillPath, SpillWriter } from '../../src/stages/spill.js';

const dir = mkdtempSync(join(tmpdir(), 'spill-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NAMES = ['id', 'name', '_source_file', '_source_row', '_problem'];

function readAll(path: string): Columns {
  const out: Columns = Object.fromEntries(NAMES.map((n) => [n, [] as Value[]]));
  for (const chunk of readSpill(path, NAMES)) {
    for (const n of NAMES) out[n]!.push(...chunk[n]!);
  }
  return out;
}

describe('SpillWriter and readSpill', () => {
  it('gives each bucket back its rows in the order appended, values as written', () => {
    const rows = 10_000; // more than a chunk: several chunks a bucket
    const source: Value[][] = [
      Array.from({ length: rows }, (_, i) => String(i)),
      Array.from({ length: rows }, (_, i) => (i % 7 === 0 ? null : `naïve “${i}” ✓`)),
      Array.from({ length: rows }, (_, i) => (i < rows / 2 ? 'a.csv' : 'b.csv')),
      Array.from({ length: rows }, (_, i) => i + 2),
      Array.from({ length: rows }, (_, i) => (i % 1000 === 0 ? 'unterminated_quote' : null)),
    ];
    const writer = new SpillWriter((b) => spillPath(dir, 'items', b, 0), 3, NAMES.length, [2]);
    for (let i = 0; i < rows; i++) writer.append(i % 3 === 2 ? 2 : i % 2, source, i);
    const written = writer.finish();
    expect(written.reduce((a, b) => a + b, 0)).toBe(rows);

    for (let bucket = 0; bucket < 3; bucket++) {
      const expected = Array.from({ length: rows }, (_, i) => i).filter(
        (i) => (i % 3 === 2 ? 2 : i % 2) === bucket,
      );
      const got = readAll(spillPath(dir, 'items', bucket, 0));
      expect(got.id).toEqual(expected.map((i) => source[0]![i]));
      expect(got.name).toEqual(expected.map((i) => source[1]![i]));
      expect(got._source_file).toEqual(expected.map((i) => source[2]![i]));
      expect(got._source_row).toEqual(expected.map((i) => source[3]![i]));
      expect(got._problem).toEqual(expected.map((i) => source[4]![i]));
      expect(written[bucket]).toBe(expected.length);
    }
  });

  it('reads a bucket no row went to as empty, and a cut-off file as an error', () => {
    const writer = new SpillWriter((b) => spillPath(dir, 'orders', b, 1), 2, NAMES.length);
    writer.append(0, [['1'], ['x'], ['f.csv'], [2], [null]], 0);
    writer.finish();
    expect([...readSpill(spillPath(dir, 'orders', 1, 1), NAMES)]).toEqual([]);
    const path = spillPath(dir, 'orders', 0, 1);
    truncateSync(path, statSync(path).size - 3);
    expect(() => [...readSpill(path, NAMES)]).toThrow(/truncated chunk/);
  });
});
