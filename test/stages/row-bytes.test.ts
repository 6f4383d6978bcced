import { describe, expect, it } from '@jest/globals';
import type { Value } from '../../src/formats/parquet.js';
import { decodeRows, RowBytes, ValueDictionary } from '../../src/stages/row-bytes.js';
import { pick, randomInt, seededRandom } from '../helpers/random.js';

/** Rows through RowBytes and back; `dictionaryColumns` flags each column. */
function roundTrip(rows: Value[][], dictionaryColumns: boolean[]): Value[][] {
  const dictionary = new ValueDictionary();
  const bytes = new RowBytes(dictionaryColumns, dictionary, 16);
  for (const row of rows) bytes.append(row);
  expect(bytes.rows).toBe(rows.length);
  const columns = decodeRows(
    Buffer.from(bytes.view()),
    rows.length,
    dictionaryColumns.length,
    dictionary,
  );
  return rows.map((_, r) => columns.map((column) => column[r]!));
}

describe('RowBytes', () => {
  it('gives back every kind of value as it was appended', () => {
    const rows: Value[][] = [
      [0, -1, 2147483647, -2147483648, 2147483648, -2147483649],
      [-0, 0.1, Number.NaN, Infinity, -Infinity, 2 ** 53],
      [1711965600000, 12.5, null, true, false, null],
      ['', 'plain', 'café', '日本語のテキスト', '🛒 cart', 'a\u0000b'],
      ['x'.repeat(70_000), null, '=1+2', ' spaced ', '\n', 'ü'.repeat(5000)],
    ];
    const back = roundTrip(
      rows,
      rows[0]!.map(() => false),
    );
    expect(back).toEqual(rows);
    expect(Object.is(back[1]![0], -0)).toBe(true);
  });

  it("keeps a dictionary column's values once, and its nulls as nulls", () => {
    const runs = ['run-a', 'run-b', null];
    const rows: Value[][] = Array.from({ length: 300 }, (_, i) => [i, runs[i % 3]!, `f${i % 2}`]);
    const dictionary = new ValueDictionary();
    const bytes = new RowBytes([false, true, true], dictionary);
    for (const row of rows) bytes.append(row);
    expect(dictionary.values).toEqual(['run-a', 'f0', 'run-b', 'f1']);
    const columns = decodeRows(Buffer.from(bytes.view()), rows.length, 3, dictionary);
    expect(columns).toEqual([0, 1, 2].map((c) => rows.map((row) => row[c])));
  });

  it('agrees with the rows over 20,000 random ones', () => {
    const random = seededRandom(7);
    const texts = ['', 'delivered', 'Returned', 'ø', '€ 12,50', '🎁', 'line\nbreak'];
    const value = (): Value =>
      pick(
        [
          () => null,
          () => randomInt(random, -3_000_000_000, 3_000_000_000),
          () => (random() - 0.5) * 1e6,
          () => pick(texts, random) + randomInt(random, 0, 99),
          () => random() < 0.5,
        ],
        random,
      )();
    const rows = Array.from({ length: 20_000 }, () => Array.from({ length: 9 }, value));
    expect(roundTrip(rows, [false, false, true, false, false, false, false, false, true])).toEqual(
      rows,
    );
  });

  it('refuses bytes it did not write, and bytes beyond the rows asked for', () => {
    const dictionary = new ValueDictionary();
    expect(() => decodeRows(Buffer.from([9]), 1, 1, dictionary)).toThrow(/unknown tag 9/);
    const bytes = new RowBytes([false], dictionary);
    bytes.append([1]);
    bytes.append([2]);
    expect(() => decodeRows(Buffer.from(bytes.view()), 1, 1, dictionary)).toThrow(/left over/);
  });
});
