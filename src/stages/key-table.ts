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
export function hashOf(key: number): number {
  bits[0] = key;
  let h = halves[0]! ^ Math.imul(halves[1]!, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Places each key of `from` (its EMPTY slots skipped) in `into`, an empty table of a power of two
 * slots, by open addressing; `moved` hears where each key went, for a table's values to follow.
 */
function rehash(
  from: Float64Array,
  into: Float64Array,
  moved?: (fromSlot: number, toSlot: number) => void,
): void {
  const mask = into.length - 1;
  for (let i = 0; i < from.length; i++) {
    const k = from[i]!;
    if (k !== k) continue;
    let slot = hashOf(k) & mask;
    while (into[slot] === into[slot]) slot = (slot + 1) & mask;
    into[slot] = k;
    moved?.(i, slot);
  }
}

/**
 * A table as plain data: its arrays (in SharedArrayBuffers when the table was made `shared`, so
 * sending it to a worker thread copies nothing) and its non-numeric entries.
 */
export interface KeyTableData {
  keys: Float64Array;
  values: Float64Array;
  numbers: number;
  others: [string, number][];
}

function float64s(length: number, shared: boolean): Float64Array {
  return shared
    ? new Float64Array(new SharedArrayBuffer(length * Float64Array.BYTES_PER_ELEMENT))
    : new Float64Array(length);
}

export class KeyTable {
  private keys: Float64Array;
  private values: Float64Array;
  private mask: number;
  private numbers = 0;
  private readonly others = new Map<string, number>();

  /** `shared`: the arrays live in SharedArrayBuffers (see {@link KeyTable.data}). */
  constructor(
    capacity = 1024,
    private readonly shared = false,
  ) {
    let slots = 16;
    while (slots * MAX_LOAD < capacity) slots *= 2;
    this.keys = float64s(slots, shared).fill(EMPTY);
    this.values = float64s(slots, shared);
    this.mask = slots - 1;
  }

  /** The table's own arrays (not copies): a reader of them must not outlive its next change. */
  data(): KeyTableData {
    return {
      keys: this.keys,
      values: this.values,
      numbers: this.numbers,
      others: [...this.others],
    };
  }

  /** A table over `data`'s arrays, as {@link KeyTable.data} gave them (no copy). */
  static from(data: KeyTableData): KeyTable {
    const table = new KeyTable(0);
    table.keys = data.keys;
    table.values = data.values;
    table.mask = data.keys.length - 1;
    table.numbers = data.numbers;
    for (const [key, value] of data.others) table.others.set(key, value);
    return table;
  }

  /** Every entry, numeric keys first (in slot order), then the others. */
  forEach(visit: (key: Key, value: number) => void): void {
    const { keys, values } = this;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === k) visit(k, values[i]!);
    }
    for (const [key, value] of this.others) visit(key, value);
  }

  get size(): number {
    return this.numbers + this.others.size;
  }

  /** Empties the table and keeps its arrays, so the next batch of keys reuses the memory. */
  clear(): void {
    this.keys.fill(EMPTY);
    this.numbers = 0;
    this.others.clear();
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
    this.keys = float64s(keys.length * 2, this.shared).fill(EMPTY);
    const grown = (this.values = float64s(keys.length * 2, this.shared));
    this.mask = this.keys.length - 1;
    rehash(keys, this.keys, (from, to) => (grown[to] = values[from]!));
  }
}

/**
 * A set of keys, for distinct counts (a day's orders, customers, (order, category) pairs): numeric
 * keys in one Float64Array with open addressing, 8 bytes a slot, where a KeyTable keeps a value
 * beside each key for 16; other keys in a Set.
 */
export class KeySet {
  private keys: Float64Array;
  private mask: number;
  private numbers = 0;
  private readonly others = new Set<string>();

  constructor(capacity = 1024) {
    let slots = 16;
    while (slots * MAX_LOAD < capacity) slots *= 2;
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.numbers + this.others.size;
  }

  has(key: Key): boolean {
    if (typeof key !== 'number') return this.others.has(key);
    const k = key + 0;
    for (let slot = hashOf(k) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = this.keys[slot]!;
      if (found === k) return true;
      if (found !== found) return false;
    }
  }

  /** Adds `key`; true when it was not there yet (one probe, where has() then add() take two). */
  add(key: Key): boolean {
    if (typeof key !== 'number') {
      const before = this.others.size;
      return this.others.add(key).size !== before;
    }
    const k = key + 0; // -0 and 0 are one key, as in a Set
    for (let slot = hashOf(k) & this.mask; ; slot = (slot + 1) & this.mask) {
      const found = this.keys[slot]!;
      if (found === k) return false;
      if (found !== found) {
        this.keys[slot] = k;
        this.numbers += 1;
        if (this.numbers > this.keys.length * MAX_LOAD) this.grow();
        return true;
      }
    }
  }

  /** Empties the set and keeps its array, so the next keys reuse the memory. */
  clear(): void {
    this.keys.fill(EMPTY);
    this.numbers = 0;
    this.others.clear();
  }

  private grow(): void {
    const { keys } = this;
    this.keys = new Float64Array(keys.length * 2).fill(EMPTY);
    this.mask = this.keys.length - 1;
    rehash(keys, this.keys);
  }
}

/** Tags a tagged KeyVersionTable keeps per key: 37 bits, so tag and version fit one float64. */
export const TAG_LIMIT = 2 ** 37;
/** Low part of a tagged entry: its version's index + 1, 0 for none. */
const VERSION_SLOTS = 2 ** 16;

/**
 * Key -> version (date partition, load time, run) for millions of keys: the table holds an
 * index into the few distinct versions (one per date and run), not an object per key.
 *
 * A `tagged` table also keeps a number below {@link TAG_LIMIT} per key, and may know a key
 * before it has a version: validate keeps each key's row fingerprint there, so one table (16
 * bytes a slot) both finds duplicates and lists the batch's valid keys, where two tables did.
 * A key without a version is not in the table as far as get(), has() and forEach() go.
 */
export class KeyVersionTable<V extends object> {
  private readonly table: KeyTable;
  private readonly versions: V[] = [];
  private readonly indexOf = new Map<V, number>();
  readonly tagged: boolean;

  /** `shared`: the table's arrays live in SharedArrayBuffers (see {@link KeyTable.data}). */
  constructor(
    options: { capacity?: number; shared?: boolean; tagged?: boolean; table?: KeyTable } = {},
  ) {
    this.table = options.table ?? new KeyTable(options.capacity, options.shared);
    this.tagged = options.tagged ?? false;
  }

  /** Empties the table (keys and versions); its arrays stay for the next keys. */
  clear(): void {
    this.table.clear();
    this.versions.length = 0;
    this.indexOf.clear();
  }

  /** Keys in the table (in a tagged one, those without a version too). */
  get size(): number {
    return this.table.size;
  }

  get(key: Key): V | undefined {
    const entry = this.table.get(key);
    if (entry === undefined) return undefined;
    if (!this.tagged) return this.versions[entry];
    const slot = entry % VERSION_SLOTS;
    return slot === 0 ? undefined : this.versions[slot - 1];
  }

  has(key: Key): boolean {
    return this.get(key) !== undefined;
  }

  /** Versions are compared by identity: pass shared objects (one per date and run). */
  set(key: Key, version: V): void {
    if (this.tagged) throw new Error('set on a tagged table: use setTagged');
    this.table.set(key, this.indexFor(version));
  }

  /** The tag of `key` in a tagged table, whether or not it has a version yet. */
  tagOf(key: Key): number | undefined {
    const entry = this.table.get(key);
    return entry === undefined ? undefined : Math.floor(entry / VERSION_SLOTS);
  }

  /**
   * Sets the tag (0 <= tag < TAG_LIMIT) of `key` in a tagged table and its version (none: the
   * key is known but hidden). One write, no read: the caller knows both.
   */
  setTagged(key: Key, tag: number, version?: V): void {
    if (!this.tagged) throw new Error('setTagged on a table made without tags');
    if (!(tag >= 0 && tag < TAG_LIMIT && Number.isInteger(tag))) {
      throw new RangeError(`tag ${tag} is not an integer in [0, 2^37)`);
    }
    this.table.set(key, tag * VERSION_SLOTS + (version ? this.indexFor(version) + 1 : 0));
  }

  /** The index of `version` among this table's versions, added if new. */
  private indexFor(version: V): number {
    let index = this.indexOf.get(version);
    if (index === undefined) {
      if (this.tagged && this.versions.length >= VERSION_SLOTS - 1) {
        throw new Error(`a key table holds at most ${VERSION_SLOTS - 1} versions (dates x runs)`);
      }
      index = this.versions.push(version) - 1;
      this.indexOf.set(version, index);
    }
    return index;
  }

  forEach(visit: (key: Key, version: V) => void): void {
    if (!this.tagged) {
      this.table.forEach((key, index) => visit(key, this.versions[index]!));
      return;
    }
    this.table.forEach((key, entry) => {
      const slot = entry % VERSION_SLOTS;
      if (slot !== 0) visit(key, this.versions[slot - 1]!);
    });
  }

  /** The table as data a worker thread can take (see {@link KeyTable.data}). */
  data(): KeyVersionData<V> {
    return { table: this.table.data(), versions: [...this.versions], tagged: this.tagged };
  }

  /** A table over `data` (its arrays are not copied); the versions are its own objects. */
  static from<V extends object>(data: KeyVersionData<V>): KeyVersionTable<V> {
    const table = new KeyVersionTable<V>({
      table: KeyTable.from(data.table),
      tagged: data.tagged ?? false,
    });
    data.versions.forEach((v, i) => {
      table.versions.push(v);
      table.indexOf.set(v, i);
    });
    return table;
  }
}

export interface KeyVersionData<V> {
  table: KeyTableData;
  versions: V[];
  tagged?: boolean;
}

/**
 * Which of `buckets` a key belongs to: numbers by their hash, text by its characters (FNV-1a).
 * Taken from the hash's high bits: a KeyTable places keys by the low bits, which would otherwise
 * be the same for every key of a bucket and crowd half of its slots.
 */
export function bucketOfKey(key: Key, buckets: number): number {
  let h: number;
  if (typeof key === 'number') h = hashOf(key + 0);
  else {
    h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h >>>= 0;
  }
  return Math.floor((h / 2 ** 32) * buckets);
}

/** Load of a frozen table: it never grows, so it can be fuller than a growing one. */
const FROZEN_LOAD = 0.75;
/** An empty slot of a frozen table of 32-bit keys: the one uint32 no key of it may be. */
const NARROW_EMPTY = 0xffffffff;

/** Whether `key` fits a frozen table's 32-bit keys. */
function isNarrow(key: number): boolean {
  return key >= 0 && key < NARROW_EMPTY && Math.floor(key) === key;
}

export interface FrozenKeyVersionsData<V> {
  /** Uint32Array when every numeric key is an integer below 2^32 - 1 (NARROW_EMPTY). */
  keys: Float64Array | Uint32Array;
  /** Per slot: its version's index. */
  slots: Uint16Array;
  others: [string, number][];
  versions: V[];
  size: number;
}

/**
 * A read-only key -> version table, built once from a finished one: exactly as many slots as
 * its keys need at 75% load (a slot count that is not a power of two, placed by multiplying
 * the hash), a key in 8 bytes (4 when every numeric key is an integer that fits 32 bits, as ids
 * mostly are) and its version's index in 2. About 13 bytes a key (8 with 32-bit keys), where a
 * growing table takes 23-46: validate keeps every parent key of a batch in this form while the
 * children look them up (orders at 20M rows: ~89 MB, ~53 with 32-bit keys).
 */
export class FrozenKeyVersions<V extends object> {
  private readonly others: Map<string, number>;

  private constructor(private readonly state: FrozenKeyVersionsData<V>) {
    this.others = new Map(state.others);
  }

  /** The entries of `table` that have a version, in shared arrays. */
  static of<V extends object>(table: KeyVersionTable<V>): FrozenKeyVersions<V> {
    let numbers = 0;
    let size = 0;
    let narrow = true;
    table.forEach((key) => {
      size += 1;
      if (typeof key !== 'number') return;
      numbers += 1;
      if (narrow && !isNarrow(key)) narrow = false;
    });
    const length = Math.max(1, Math.ceil(numbers / FROZEN_LOAD));
    const keys = narrow
      ? new Uint32Array(new SharedArrayBuffer(length * Uint32Array.BYTES_PER_ELEMENT)).fill(
          NARROW_EMPTY,
        )
      : float64s(length, true).fill(EMPTY);
    const empty = narrow ? NARROW_EMPTY : EMPTY;
    const slots = new Uint16Array(new SharedArrayBuffer(length * Uint16Array.BYTES_PER_ELEMENT));
    const versions: V[] = [];
    const indexOf = new Map<V, number>();
    const others: [string, number][] = [];
    table.forEach((key, version) => {
      let index = indexOf.get(version);
      if (index === undefined) {
        if (versions.length >= VERSION_SLOTS) {
          throw new Error(`a key table holds at most ${VERSION_SLOTS} versions (dates x runs)`);
        }
        index = versions.push(version) - 1;
        indexOf.set(version, index);
      }
      if (typeof key !== 'number') {
        others.push([key, index]);
        return;
      }
      const k = key + 0;
      let slot = slotOf(k, length);
      while (!Object.is(keys[slot], empty)) slot = slot + 1 === length ? 0 : slot + 1;
      keys[slot] = k;
      slots[slot] = index;
    });
    return new FrozenKeyVersions({ keys, slots, others, versions, size });
  }

  static from<V extends object>(data: FrozenKeyVersionsData<V>): FrozenKeyVersions<V> {
    return new FrozenKeyVersions(data);
  }

  /** The table as data for another thread (shared arrays: no copy). */
  data(): FrozenKeyVersionsData<V> {
    return this.state;
  }

  get(key: Key): V | undefined {
    const { keys, slots, versions } = this.state;
    if (typeof key !== 'number') {
      const index = this.others.get(key);
      return index === undefined ? undefined : versions[index];
    }
    const k = key + 0;
    const length = keys.length;
    // By element size, not instanceof: the arrays may come from another realm (a structured
    // clone), whose Uint32Array is not this one's.
    if (keys.BYTES_PER_ELEMENT === Uint32Array.BYTES_PER_ELEMENT) {
      if (!isNarrow(k)) return undefined; // no such key: the table would hold only narrow ones
      for (let slot = slotOf(k, length); ; slot = slot + 1 === length ? 0 : slot + 1) {
        const found = keys[slot]!;
        if (found === k) return versions[slots[slot]!];
        if (found === NARROW_EMPTY) return undefined; // a frozen table always has an empty slot
      }
    }
    for (let slot = slotOf(k, length); ; slot = slot + 1 === length ? 0 : slot + 1) {
      const found = keys[slot]!;
      if (found === k) return versions[slots[slot]!];
      if (found !== found) return undefined; // EMPTY: a frozen table always has one
    }
  }

  has(key: Key): boolean {
    return this.get(key) !== undefined;
  }

  /** Keys with a version. */
  get size(): number {
    return this.state.size;
  }
}

/** Whether `key` is an integer a dense table's range can hold (that of 32-bit frozen keys). */
export function isDenseKey(key: Key): key is number {
  return typeof key === 'number' && isNarrow(key);
}

export interface DenseKeyCodesData {
  /** The smallest key of the range: slot i is key `first + i`. */
  first: number;
  /** Per key of the range: its code, 0 for none (a shared array: threads write their keys). */
  codes: Uint16Array;
}

/**
 * A code from 1 to 65,535 for each of a range of integer keys, 2 bytes a key of the range: for ids
 * counted up from 1, which fill most of their range, a quarter of a frozen table's 8 bytes a key.
 * Threads each write their own keys into it (a key is one bucket's, a bucket one thread's).
 */
export class DenseKeyCodes {
  private constructor(private readonly state: DenseKeyCodesData) {}

  /** An empty table for the keys first..last. */
  static forRange(first: number, last: number): DenseKeyCodes {
    const length = last - first + 1;
    return new DenseKeyCodes({ first, codes: new Uint16Array(new SharedArrayBuffer(length * 2)) });
  }

  static from(data: DenseKeyCodesData): DenseKeyCodes {
    return new DenseKeyCodes(data);
  }

  /** The table as data for another thread (a shared array: no copy). */
  data(): DenseKeyCodesData {
    return this.state;
  }

  /** Whether `key` has a slot: an integer within the range. */
  holds(key: Key): boolean {
    if (typeof key !== 'number') return false;
    const slot = key - this.state.first;
    return slot >= 0 && slot < this.state.codes.length && Math.floor(slot) === slot;
  }

  /** Sets `key`'s code; false, setting nothing, when the key is outside the range. */
  set(key: Key, code: number): boolean {
    if (!this.holds(key) || !Number.isInteger(code) || code < 1 || code > 0xffff) return false;
    this.state.codes[(key as number) + 0 - this.state.first] = code; // + 0: -0 names slot 0
    return true;
  }

  /** `key`'s code, 0 for none. */
  get(key: Key): number {
    if (typeof key !== 'number') return 0;
    // A key outside the range, or not an integer, has no slot (undefined).
    return this.state.codes[key + 0 - this.state.first] ?? 0;
  }
}

/**
 * Most slots of a dense key table per key it holds: 2-byte slots over a range four times the keys
 * take what a frozen table takes (8 bytes a key); ids counted up fill their range.
 */
export const DENSE_SLOTS_PER_KEY = 4;

export interface DenseKeyVersionsData<V> {
  dense: DenseKeyCodesData;
  versions: V[];
  /** Keys with a version in the range. */
  keys: number;
  /** The keys outside the range. */
  rest: KeyVersionData<V>;
}

/**
 * The versions of a range of integer keys, 2 bytes a key of the range (each key's version index
 * plus one, in a DenseKeyCodes), and of the few keys outside it in a hash table. For the earlier
 * keys a batch refers to when most are ids filling their range: a batch of 20M order items
 * refers to 6.67M orders of its history, whose versions a KeyVersionTable held in 268 MB (16
 * bytes a slot) and this holds in 13 MB. At most 65,535 versions (dates x runs) in the range;
 * `set` says when it cannot take another.
 */
export class DenseKeyVersions<V extends object> {
  private readonly indexOf = new Map<V, number>();

  private constructor(
    private readonly codes: DenseKeyCodes,
    private readonly versions: V[],
    private readonly rest: KeyVersionTable<V>,
    private keys: number,
  ) {
    versions.forEach((v, i) => this.indexOf.set(v, i));
  }

  /** An empty table for the keys first..last (and any others, hashed). */
  static forRange<V extends object>(first: number, last: number): DenseKeyVersions<V> {
    return new DenseKeyVersions<V>(
      DenseKeyCodes.forRange(first, last),
      [],
      new KeyVersionTable<V>({ shared: true }),
      0,
    );
  }

  static from<V extends object>(data: DenseKeyVersionsData<V>): DenseKeyVersions<V> {
    return new DenseKeyVersions<V>(
      DenseKeyCodes.from(data.dense),
      [...data.versions],
      KeyVersionTable.from(data.rest),
      data.keys,
    );
  }

  /** The table as data for another thread (its arrays shared, no copy). */
  data(): DenseKeyVersionsData<V> {
    return {
      dense: this.codes.data(),
      versions: [...this.versions],
      keys: this.keys,
      rest: this.rest.data(),
    };
  }

  /** Keys with a version. */
  get size(): number {
    return this.keys + this.rest.size;
  }

  get(key: Key): V | undefined {
    const code = this.codes.get(key);
    return code === 0 ? this.rest.get(key) : this.versions[code - 1];
  }

  has(key: Key): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * Sets `key`'s version (versions are compared by identity); false, setting nothing, when the
   * key is in the range and the range holds as many versions as it can.
   */
  set(key: Key, version: V): boolean {
    if (!this.codes.holds(key)) {
      this.rest.set(key, version);
      return true;
    }
    let index = this.indexOf.get(version);
    if (index === undefined) {
      if (this.versions.length >= 0xffff) return false;
      index = this.versions.push(version) - 1;
      this.indexOf.set(version, index);
    }
    if (this.codes.get(key) === 0) this.keys += 1;
    return this.codes.set(key, index + 1);
  }

  /** Every key with a version: the range's in key order, then the others. */
  forEach(visit: (key: Key, version: V) => void): void {
    const { first, codes } = this.codes.data();
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i]!;
      if (code !== 0) visit(first + i, this.versions[code - 1]!);
    }
    this.rest.forEach(visit);
  }
}

/**
 * Slot of a number in a table of `length` slots: its hash, mixed again and scaled to the length.
 * Mixed again because a bucket's keys share their hash's high bits ({@link bucketOfKey}).
 */
function slotOf(key: number, length: number): number {
  const h = hashOf(key);
  return Math.floor(((Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0) / 2 ** 32) * length);
}
