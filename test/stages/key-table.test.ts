import { describe, expect, it } from '@jest/globals';
import {
  bucketOfKey,
  DenseKeyCodes,
  DenseKeyVersions,
  FrozenKeyVersions,
  KeySet,
  KeyTable,
  KeyVersionTable,
  TAG_LIMIT,
} from '../../src/stages/key-table.js';
import type { Key } from '../../src/stages/entity-index.js';
import { seededRandom } from '../helpers/random.js';

describe('KeyTable', () => {
  it('agrees with a Map over 200,000 random operations (growth, overwrites, misses)', () => {
    const random = seededRandom(7);
    const table = new KeyTable(4);
    const reference = new Map<string | number, number>();
    const keyOf = (): string | number => {
      const r = random();
      if (r < 0.5) return Math.floor(random() * 50_000); // small ints, many repeats
      if (r < 0.7) return Math.floor(random() * 2 ** 53) - 2 ** 52; // 53-bit ints, both signs
      if (r < 0.85) return Math.round(random() * 1e6) / 100; // prices
      return `k${Math.floor(random() * 20_000)}\u0001${Math.floor(random() * 3)}`;
    };
    for (let i = 0; i < 200_000; i++) {
      const key = keyOf();
      if (random() < 0.6) {
        const value = Math.floor(random() * 2 ** 53);
        table.set(key, value);
        reference.set(key, value);
      } else {
        expect(table.get(key)).toBe(reference.get(key));
        expect(table.has(key)).toBe(reference.has(key));
      }
    }
    expect(table.size).toBe(reference.size);
    for (const [key, value] of reference) expect(table.get(key)).toBe(value);
  });

  it('treats 0 and -0 as one key and stores 53-bit values exactly', () => {
    const table = new KeyTable();
    table.set(-0, 2 ** 53 - 1);
    expect(table.get(0)).toBe(2 ** 53 - 1);
    table.set(0, 5);
    expect(table.size).toBe(1);
    expect(table.get(-0)).toBe(5);
    expect(table.get(1)).toBeUndefined();
  });
});

describe('KeySet', () => {
  it('agrees with a Set over 200,000 random adds and lookups (growth, repeats, clears)', () => {
    const random = seededRandom(11);
    const set = new KeySet(4);
    const reference = new Set<string | number>();
    const keyOf = (): string | number => {
      const r = random();
      if (r < 0.5) return Math.floor(random() * 50_000);
      if (r < 0.7) return Math.floor(random() * 2 ** 53) - 2 ** 52;
      if (r < 0.85) return Math.round(random() * 1e6) / 100;
      return `k${Math.floor(random() * 20_000)}|${Math.floor(random() * 3)}`;
    };
    for (let i = 0; i < 200_000; i++) {
      if (i === 150_000) {
        set.clear();
        reference.clear();
        expect(set.size).toBe(0);
      }
      const key = keyOf();
      if (random() < 0.6) {
        expect(set.add(key)).toBe(!reference.has(key));
        reference.add(key);
      } else {
        expect(set.has(key)).toBe(reference.has(key));
      }
    }
    expect(set.size).toBe(reference.size);
    for (const key of reference) expect(set.has(key)).toBe(true);
  });

  it('adds a key once: true only the first time, 0 and -0 as one key', () => {
    const set = new KeySet(2);
    const added = [5, 'a', 5, 2 ** 40, 'a', 7, 2 ** 40, 0, -0].map((key) => set.add(key));
    expect(added).toEqual([true, true, false, true, false, true, false, true, false]);
    expect(set.size).toBe(5);
    expect(set.has(-0)).toBe(true);
    expect(set.has(6)).toBe(false);
  });
});

describe('KeyVersionTable', () => {
  it('returns the very version object each key was set to', () => {
    const a = { date: '2024-01-01' };
    const b = { date: '2024-01-02' };
    const versions = new KeyVersionTable<{ date: string }>();
    for (let id = 0; id < 10_000; id++) versions.set(id, id % 3 === 0 ? a : b);
    versions.set('composite\u00011', a);
    versions.set(3, b); // replaced
    expect(versions.size).toBe(10_001);
    expect(versions.get(0)).toBe(a);
    expect(versions.get(3)).toBe(b);
    expect(versions.get(4)).toBe(b);
    expect(versions.get('composite\u00011')).toBe(a);
    expect(versions.has(10_000)).toBe(false);
  });
  it('crosses to another thread as shared data: the same entries, no copy of the arrays', () => {
    const versions = new KeyVersionTable<{ date: string }>({ shared: true });
    const days = [{ date: '2024-01-01' }, { date: '2024-01-02' }];
    for (let id = 0; id < 5_000; id++) versions.set(id * 7, days[id % 2]!);
    versions.set('text-key', days[1]!);
    // structuredClone is what postMessage does to a worker's task.
    const data = structuredClone(versions.data());
    expect(Object.prototype.toString.call(data.table.keys.buffer)).toBe(
      '[object SharedArrayBuffer]',
    );
    const there = KeyVersionTable.from(data);
    expect(there.size).toBe(5_001);
    for (let id = 0; id < 5_000; id++) expect(there.get(id * 7)?.date).toBe(days[id % 2]!.date);
    expect(there.get('text-key')?.date).toBe('2024-01-02');
    expect(there.has(1)).toBe(false);
    // Shared memory: a later change here is seen there (and so readers must not outlive one).
    versions.set(0, days[1]!);
    expect(there.get(0)?.date).toBe('2024-01-02');
    const seen: [unknown, string][] = [];
    there.forEach((key, version) => seen.push([key, version.date]));
    expect(seen).toHaveLength(5_001);
    expect(new Set(seen.map(([key]) => key)).size).toBe(5_001);
  });
  it('keeps a tag per key apart from its version, and hides keys that have no version yet', () => {
    const days = [{ date: '2024-01-01' }, { date: '2024-01-02' }];
    const table = new KeyVersionTable<{ date: string }>({ shared: true, tagged: true });
    // Tags as validate makes them: 53-bit fingerprints cut to 37 bits, largest and smallest too.
    const tagOf = (id: number) => (id === 0 ? TAG_LIMIT - 1 : (id * 2654435761 * 8191) % TAG_LIMIT);
    for (let id = 0; id < 20_000; id++) table.setTagged(id, tagOf(id));
    table.setTagged('composite\u00017', 0);
    // Every third key gets a version with its tag; the others stay hidden.
    for (let id = 0; id < 20_000; id += 3) table.setTagged(id, tagOf(id), days[id % 2]!);
    table.setTagged('composite\u00017', 0, days[1]!);
    table.setTagged(3, 12345, days[1]!); // a key's tag and version replaced
    const there = KeyVersionTable.from(structuredClone(table.data()));
    for (const t of [table, there]) {
      expect(t.tagged).toBe(true);
      for (let id = 0; id < 20_000; id++) {
        expect(t.tagOf(id)).toBe(id === 3 ? 12345 : tagOf(id));
        expect(t.get(id)).toEqual(id % 3 === 0 ? days[id % 2] : undefined);
        expect(t.has(id)).toBe(id % 3 === 0);
      }
      expect(t.tagOf('composite\u00017')).toBe(0);
      expect(t.get('composite\u00017')).toEqual(days[1]);
      expect(t.tagOf(20_000)).toBeUndefined();
      const visited: unknown[] = [];
      t.forEach((key) => visited.push(key));
      expect(visited).toHaveLength(Math.ceil(20_000 / 3) + 1);
    }
  });
  it('refuses tags outside [0, 2^37), tags on a table made without them, and untagged sets on one with', () => {
    const table = new KeyVersionTable<{ date: string }>({ tagged: true });
    expect(() => table.setTagged(1, TAG_LIMIT)).toThrow(RangeError);
    expect(() => table.setTagged(1, -1)).toThrow(RangeError);
    expect(() => table.setTagged(1, 0.5)).toThrow(RangeError);
    expect(() => new KeyVersionTable<{ date: string }>().setTagged(1, 1)).toThrow(/without tags/);
    expect(() => table.set(1, { date: '2024-01-01' })).toThrow(/setTagged/);
  });
});

describe('FrozenKeyVersions', () => {
  it('keeps exactly the versioned keys of a tagged table, across a structured clone', () => {
    const days = [{ date: '2024-01-01' }, { date: '2024-01-02' }];
    const table = new KeyVersionTable<{ date: string }>({ tagged: true });
    for (let id = 0; id < 50_000; id++) {
      // Every third key valid (with a version), the others only seen.
      table.setTagged(id * 7919, id % 1000, id % 3 === 0 ? days[id % 2] : undefined);
    }
    table.setTagged('sku\u0001eu', 1, days[0]);
    table.setTagged('sku\u0001us', 2);
    const frozen = FrozenKeyVersions.of(table);
    expect(frozen.size).toBe(Math.ceil(50_000 / 3) + 1);
    const there = FrozenKeyVersions.from(structuredClone(frozen.data()));
    for (let id = 0; id < 50_000; id++) {
      expect(there.get(id * 7919)).toEqual(id % 3 === 0 ? days[id % 2] : undefined);
    }
    expect(there.get(1)).toBeUndefined();
    expect(there.get(-0)).toEqual(days[0]); // key 0 (id 0) stored as 0
    expect(there.get('sku\u0001eu')).toEqual(days[0]);
    expect(there.has('sku\u0001us')).toBe(false);
    // The table is not rebuilt: its arrays are the same memory on both sides.
    expect(frozen.data().keys.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('holds a bucket of keys (hashes sharing their high bits) in a table at 75% load', () => {
    const buckets = 16;
    const table = new KeyVersionTable<{ date: string }>();
    const day = { date: '2024-01-01' };
    let keys = 0;
    for (let id = 0; keys < 100_000; id++) {
      if (bucketOfKey(id, buckets) !== 5) continue;
      table.set(id, day);
      keys += 1;
    }
    const frozen = FrozenKeyVersions.of(table);
    const { keys: slots } = frozen.data();
    expect(slots.length).toBe(Math.ceil(100_000 / 0.75));
    expect(slots).toBeInstanceOf(Uint32Array); // ids: 32-bit keys, 0xffffffff marks an empty slot
    // Keys spread over the whole table: no run of occupied slots far longer than at random.
    let longest = 0;
    let run = 0;
    for (const k of slots) {
      run = k !== 0xffffffff ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    expect(longest).toBeLessThan(200);
  });

  it('keeps keys in 32 bits when every numeric key is an integer below 2^32 - 1, else in 64', () => {
    const day = { date: '2024-01-01' };
    const frozenOf = (keys: (number | string)[]) => {
      const table = new KeyVersionTable<{ date: string }>();
      for (const key of keys) table.set(key, day);
      return FrozenKeyVersions.of(table);
    };
    const ids = Array.from({ length: 1000 }, (_, i) => i * 4_000_037);
    const narrow = frozenOf([...ids, 0xfffffffe, 'sku-1']);
    expect(narrow.data().keys).toBeInstanceOf(Uint32Array);
    expect(narrow.data().keys.byteLength).toBe(4 * Math.ceil(1001 / 0.75));
    for (const id of [...ids, 0xfffffffe]) expect(narrow.get(id)).toBe(day);
    expect(narrow.get('sku-1')).toBe(day);
    // Numbers a 32-bit table cannot hold are simply not in it (no wrap-around, no truncation).
    for (const absent of [0xffffffff, 2 ** 32, 2 ** 32 + 4_000_037, -4_000_037, 4_000_037.5, 1])
      expect(narrow.get(absent)).toBeUndefined();

    for (const wide of [0xffffffff, 2 ** 40, -1, 2.5]) {
      const frozen = frozenOf([...ids, wide]);
      expect(frozen.data().keys).toBeInstanceOf(Float64Array);
      expect(frozen.get(wide)).toBe(day);
      expect(frozen.get(ids[999]!)).toBe(day);
      expect(frozen.get(wide + 0.25)).toBeUndefined();
    }
  });
});

describe('DenseKeyCodes', () => {
  it('holds a code per key of its range in 2 bytes, shared with the threads that write it', () => {
    const table = DenseKeyCodes.forRange(1000, 1999);
    expect(table.data().codes.byteLength).toBe(2 * 1000);
    // Another thread's copy writes into the same memory.
    const there = DenseKeyCodes.from(structuredClone(table.data()));
    expect(there.set(1000, 7)).toBe(true);
    expect(there.set(1999, 0xffff)).toBe(true);
    expect(table.set(1500, 1)).toBe(true);
    expect([table.get(1000), table.get(1999), there.get(1500)]).toEqual([7, 0xffff, 1]);
    expect(table.get(1001)).toBe(0);
  });

  it('refuses keys outside its range, fractions, text and codes outside 1-65535', () => {
    const table = DenseKeyCodes.forRange(0, 99);
    for (const key of [-1, 100, 2 ** 40, 1.5, Number.NaN, '5']) {
      expect(table.set(key, 3)).toBe(false);
      expect(table.get(key)).toBe(0);
    }
    for (const code of [0, 0x10000, 1.5]) expect(table.set(5, code)).toBe(false);
    expect(table.get(5)).toBe(0);
    // 0 and -0 are one key.
    expect(table.set(-0, 9)).toBe(true);
    expect([table.get(0), table.get(-0)]).toEqual([9, 9]);
  });
});

describe('DenseKeyVersions', () => {
  const v = (n: number) => ({ date: `2024-01-0${n}`, loadedAt: n, runId: `run-${n}` });

  it('holds one version per key of its range, shared objects by index', () => {
    const [a, b] = [v(1), v(2)];
    const table = DenseKeyVersions.forRange<ReturnType<typeof v>>(10, 19);
    expect(table.set(10, a)).toBe(true);
    expect(table.set(19, b)).toBe(true);
    expect(table.set(12, a)).toBe(true);
    expect(table.set(12, b)).toBe(true); // replaced: still one key
    expect(table.size).toBe(3);
    expect(table.get(10)).toBe(a);
    expect(table.get(12)).toBe(b);
    expect(table.has(11)).toBe(false);
    // Keys outside the range, and text keys, go to its hash table.
    expect(table.set(9, a)).toBe(true);
    expect(table.set(2 ** 40, b)).toBe(true);
    expect(table.set('10', a)).toBe(true);
    expect(table.set(10.5, b)).toBe(true);
    expect(table.get(9)).toBe(a);
    expect(table.get('10')).toBe(a);
    expect(table.get(10.5)).toBe(b);
    expect(table.has(20)).toBe(false);
    expect(table.size).toBe(7);
    const seen: [Key, string][] = [];
    table.forEach((key, version) => seen.push([key, version.runId]));
    expect(seen.slice(0, 3)).toEqual([
      [10, 'run-1'],
      [12, 'run-2'],
      [19, 'run-2'],
    ]);
    expect(new Set(seen.slice(3))).toEqual(
      new Set([
        [9, 'run-1'],
        [2 ** 40, 'run-2'],
        ['10', 'run-1'],
        [10.5, 'run-2'],
      ]),
    );
    // Another thread's copy: the same answers over the same shared arrays.
    const copy = DenseKeyVersions.from(table.data());
    expect(copy.get(12)).toEqual(b);
    expect(copy.get(2 ** 40)).toEqual(b);
    expect(copy.size).toBe(7);
  });

  it('takes at most 65,535 versions in its range, then refuses a new one and changes nothing', () => {
    const table = DenseKeyVersions.forRange<{ n: number }>(0, 70_000);
    for (let n = 0; n < 0xffff; n++) expect(table.set(n, { n })).toBe(true);
    const known = table.get(5)!;
    expect(table.set(5, { n: -1 })).toBe(false);
    expect(table.get(5)).toBe(known);
    expect(table.set(0xffff, known)).toBe(true); // a version it has
    expect(table.set(80_000, { n: -2 })).toBe(true); // outside the range: hashed
    expect(table.size).toBe(0xffff + 2);
  });
});

describe('bucketOfKey', () => {
  it('splits numbers and text about evenly and puts one key in one bucket', () => {
    const counts = new Array<number>(8).fill(0);
    for (let id = 0; id < 80_000; id++) counts[bucketOfKey(id, 8)]! += 1;
    for (let id = 0; id < 80_000; id++) counts[bucketOfKey(`order-${id}`, 8)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(18_000);
    expect(bucketOfKey(-0, 8)).toBe(bucketOfKey(0, 8));
    expect(bucketOfKey(12.5, 1)).toBe(0);
  });
});
