/**
 * Key -> number tables sized for the millions of keys one batch can carry. Numeric keys (every
 * key of thelook and rees46) live in two Float64Arrays with open addressing: 16 bytes a slot, no
 * object per entry, and nothing for the garbage collector to walk, where a Map of millions of
 * entries is traced again by every full collection. Other keys (text, composite) use a Map.
 */
import type { Key } from './entity-index.js';

const EMPTY = Number.NaN; // keys are never NaN: parsed numbers are finite
const MAX_LOAD = 0.7;

const bits = new Float64Array(1);
const halves = new Uint32Array(bits.buffer);

/** Slot hash of a number: both 32-bit halves of its double, mixed (murmur3 finaliser). */
function hashOf(key: number): number {
  bits[0] = key;
  let h = halves[0]! ^ Math.imul(halves[1]!, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class KeyTable {
  private keys: Float64Array;
  private values: Float64Array;
  private mask: number;
  private numbers = 0;
  private readonly others = new Map<string, number>();

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots * MAX_LOAD < capacity) slots *= 2;
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.values = new Float64Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.numbers + this.others.size;
  }

  get(key: Key): number | undefined {
    if (typeof key !== 'number') return this.others.get(key);
    const k = key + 0; // -0 and 0 are one key, as in a Map
    for (let slot = hashOf(k) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = this.keys[slot]!;
      if (found === k) return this.values[slot];
      if (found !== found) return undefined; // EMPTY
    }
  }

  has(key: Key): boolean {
    return this.get(key) !== undefined;
  }

  set(key: Key, value: number): void {
    if (typeof key !== 'number') {
      this.others.set(key, value);
      return;
    }
    const k = key + 0;
    for (let slot = hashOf(k) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = this.keys[slot]!;
      if (found === k) {
        this.values[slot] = value;
        return;
      }
      if (found !== found) {
        this.keys[slot] = k;
        this.values[slot] = value;
        this.numbers += 1;
        if (this.numbers > this.keys.length * MAX_LOAD) this.grow();
        return;
      }
    }
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Float64Array(keys.length * 2).fill(EMPTY);
    this.values = new Float64Array(keys.length * 2);
    this.mask = this.keys.length - 1;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k !== k) continue;
      let slot = hashOf(k) & this.mask;
      while (this.keys[slot] === this.keys[slot]) slot = (slot + 1) & this.mask;
      this.keys[slot] = k;
      this.values[slot] = values[i]!;
    }
  }
}

/**
 * Key -> version (date partition, load time, run) for millions of keys: the table holds an
 * index into the few distinct versions (one per date and run), not an object per key.
 */
export class KeyVersionTable<V extends object> {
  private readonly table = new KeyTable();
  private readonly versions: V[] = [];
  private readonly indexOf = new Map<V, number>();

  get size(): number {
    return this.table.size;
  }

  get(key: Key): V | undefined {
    const index = this.table.get(key);
    return index === undefined ? undefined : this.versions[index];
  }

  has(key: Key): boolean {
    return this.table.has(key);
  }

  /** Versions are compared by identity: pass shared objects (one per date and run). */
  set(key: Key, version: V): void {
    let index = this.indexOf.get(version);
    if (index === undefined) {
      index = this.versions.push(version) - 1;
      this.indexOf.set(version, index);
    }
    this.table.set(key, index);
  }
}
