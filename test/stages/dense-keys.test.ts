import { describe, expect, it } from '@jest/globals';
import type { KeyVersion } from '../../src/stages/entity-index.js';
import {
  bucketOfKey,
  DenseKeyCodes,
  FrozenKeyVersions,
  KeyVersionTable,
} from '../../src/stages/key-table.js';
import { denseKeysFor, KeySample, thisRunLookup } from '../../src/stages/validate.js';

/** What validate's first pass reports of a piece's keys (all integers a dense table holds). */
function piece(keys: number[]) {
  const sample = new KeySample();
  for (const key of keys) sample.add(key);
  return { dense: true, count: keys.length, sample: sample.keys };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('KeySample', () => {
  it('keeps every key until full, then an even sample of at most 4,096 in order', () => {
    expect(piece([5, 3, 9]).sample).toEqual([5, 3, 9]);
    const sample = piece(range(1, 1_000_000)).sample;
    expect(sample.length).toBeLessThanOrEqual(4096);
    expect(sample.length).toBeGreaterThan(2048);
    // Every stride-th key from the first: evenly spread over the whole input.
    const stride = sample[1]! - sample[0]!;
    expect(sample.every((key, i) => key === 1 + i * stride)).toBe(true);
    expect(sample.at(-1)!).toBeGreaterThan(1_000_000 - 2 * stride);
  });
});

describe('denseKeysFor (the range of a parent dense table)', () => {
  it('covers the keys of every piece, ids counted up from 1', () => {
    const table = denseKeysFor([piece(range(1, 50_000)), piece(range(50_001, 100_000))])!;
    expect(table).toBeDefined();
    const { first, codes } = table.data();
    // The outer 1% of the sample at each end is left to the bucket tables.
    expect(first).toBeGreaterThan(500);
    expect(first).toBeLessThan(1500);
    expect(first + codes.length - 1).toBeGreaterThan(98_500);
    expect(first + codes.length - 1).toBeLessThan(99_500);
  });

  it('is not stretched by a few outlying ids', () => {
    const table = denseKeysFor([piece([...range(1, 10_000), 99_999_999, 2 ** 31])])!;
    expect(table).toBeDefined();
    expect(table.data().codes.length).toBeLessThan(10_000);
  });

  it('declines text or wide keys in any piece, keys spread thinner than 1 in 4, or none', () => {
    expect(denseKeysFor([piece(range(1, 1000)), { dense: false, count: 5, sample: [] }])).toBe(
      undefined,
    );
    expect(denseKeysFor([piece(range(1, 1000).map((k) => k * 5))])).toBeUndefined();
    expect(denseKeysFor([piece(range(1, 1000).map((k) => k * 3))])).toBeDefined();
    expect(denseKeysFor([piece([])])).toBeUndefined();
    expect(denseKeysFor([])).toBeUndefined();
  });
});

describe("thisRunLookup (a parent's keys this run validated)", () => {
  it('finds the keys of the dense table and of the bucket tables, with their versions, and no others', () => {
    const loadedAt = Date.parse('2026-12-02T08:00:00Z');
    const runId = 'run-now';
    // Dense codes: 2 is 1900-01-01, 1 a key without a date.
    const dense = DenseKeyCodes.forRange(100, 199);
    const code = (date: string) => 2 + (Date.parse(date) - Date.parse('1900-01-01')) / 86_400_000;
    expect(dense.set(100, code('2024-04-01'))).toBe(true);
    expect(dense.set(150, 1)).toBe(true);
    // Two bucket tables: keys outside the dense range, text keys.
    const tables = [new KeyVersionTable<KeyVersion>(), new KeyVersionTable<KeyVersion>()];
    const version: KeyVersion = { date: '2024-05-02', loadedAt, runId };
    for (const key of [7, 5000, 'A-17']) tables[bucketOfKey(key, 2)]!.set(key, version);
    const lookup = thisRunLookup({
      buckets: tables.map((t) => FrozenKeyVersions.of(t).data()),
      dense: { ...dense.data(), loadedAt, runId },
    });
    expect(lookup(100)).toEqual({ date: '2024-04-01', loadedAt, runId });
    expect(lookup(150)).toEqual({ date: undefined, loadedAt, runId });
    for (const key of [7, 5000, 'A-17']) expect(lookup(key)).toEqual(version);
    for (const key of [101, 199, 99, 200, 6, 'A-18', '100']) expect(lookup(key)).toBeUndefined();
    expect(thisRunLookup({ buckets: [] })(100)).toBeUndefined();
  });
});
