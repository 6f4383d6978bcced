/**
 * What validate knows of earlier runs: for each key of an entity, the date partition and load
 * time of its latest validated version. Built from the key columns of validated/ alone (Parquet
 * reads only the columns asked for), so it stays small next to the data.
 */
import { layout, parseOutputKey } from '../contracts/layout.js';
import type { Columns, Value } from '../formats/parquet.js';
import { fetchInOrder, type ObjectInfo, type ObjectStore } from '../ports/object-store.js';
import type { CommittedRuns } from './committed-runs.js';
import { DENSE_SLOTS_PER_KEY, DenseKeyVersions, KeyVersionTable } from './key-table.js';
import { fetchPartColumns, readFetchedPart, type FetchPartOptions } from './parquet-parts.js';

export type Key = string | number;

/** A single-column key is its value; composite keys join their parts. */
export function keyOf(columns: Columns, keyColumns: readonly string[], i: number): Key | undefined {
  if (keyColumns.length === 1) {
    const v = columns[keyColumns[0]!]![i];
    return v === null || v === undefined ? undefined : (v as string | number);
  }
  const parts: Value[] = [];
  for (const k of keyColumns) {
    const v = columns[k]![i];
    if (v === null || v === undefined) return undefined;
    parts.push(v);
  }
  return parts.join('\u0001');
}

export function keyOfRow(
  row: Readonly<Record<string, Value>>,
  keyColumns: readonly string[],
): Key | undefined {
  if (keyColumns.length === 1) {
    const v = row[keyColumns[0]!];
    return v === null || v === undefined ? undefined : (v as string | number);
  }
  const parts = keyColumns.map((k) => row[k]);
  return parts.some((v) => v === null || v === undefined) ? undefined : parts.join('\u0001');
}

export interface KeyVersion {
  date: string | undefined;
  loadedAt: number;
  runId: string;
}

/** true when version a is newer than b (later load, then later run id). */
export function newer(
  a: { loadedAt: number; runId: string },
  b: { loadedAt: number; runId: string },
): boolean {
  return a.loadedAt > b.loadedAt || (a.loadedAt === b.loadedAt && a.runId > b.runId);
}

/** Keys a caller wants from an index. */
export interface WantedKeySet {
  has(key: Key): boolean;
  /** How many (with `range`: values asked for, repeats included). */
  readonly size?: number;
  /**
   * Integer ids in which most wanted keys lie, every one of them wanted: an index can hold the
   * range densely and the few others hashed.
   */
  readonly range?: { first: number; last: number };
}

/** The keys a caller wants from an index, asked for when there are parts to read (undefined: all). */
export type WantedKeys = () => Promise<WantedKeySet | undefined>;

/** An index of keys' latest versions: a hash table, or dense over a range of integer keys. */
export type KeyIndex = KeyVersionTable<KeyVersion> | DenseKeyVersions<KeyVersion>;

export type KeyIndexOptions = FetchPartOptions & {
  /** Which committed earlier runs can hold a wanted version (default: every one). */
  runs?: (runId: string) => Promise<boolean>;
  /**
   * Keys to index before asking `only` (default 0: before the first), for a caller whose wanted
   * set can cost more than a small history it would filter (validate's PARENT_KEYS_UNFILTERED).
   * Past this many keys, `only` is asked and the keys indexed so far are filtered too.
   */
  filterAfter?: number;
};

/**
 * The entries of `index` whose key `wanted` has, in a table of their size: dense when the wanted
 * keys are integers filling at least a quarter of their range (DENSE_SLOTS_PER_KEY), else hashed.
 */
function keptOnly(index: KeyIndex, wanted: WantedKeySet): KeyIndex {
  const { range, size } = wanted;
  if (range && size !== undefined && range.last - range.first + 1 <= DENSE_SLOTS_PER_KEY * size) {
    const dense = DenseKeyVersions.forRange<KeyVersion>(range.first, range.last);
    let fits = true;
    index.forEach((key, version) => {
      if (fits && wanted.has(key)) fits = dense.set(key, version);
    });
    if (fits) return dense;
  }
  return hashed(index, wanted);
}

/** The entries of `index` (that `wanted` has, if given) in a hash table. */
function hashed(index: KeyIndex, wanted?: WantedKeySet): KeyVersionTable<KeyVersion> {
  const kept = new KeyVersionTable<KeyVersion>({ shared: true });
  index.forEach((key, version) => {
    if (!wanted || wanted.has(key)) kept.set(key, version);
  });
  return kept;
}

/**
 * Latest version per key among the committed runs' parts of validated/<dataset>/<entity>/,
 * skipping `excludeRunId` (the run being validated: its earlier attempt is not "seen before").
 * With `only` (asked for only when there are earlier keys to read, and with `filterAfter` only
 * once that many are indexed), the index keeps just the keys it returns: all parts' keys are
 * still read, but the table stays that set's size rather than the history's. Undefined from it:
 * every key.
 *
 * Of each part only the key and version columns are fetched when it is large enough to be read
 * by ranges ({@link fetchPartColumns}): a daily batch reads every earlier part's keys, ~3 of
 * thelook's orders' and items' columns (at 20M rows of history 1.18 GB of whole parts, 0.35 GB
 * of their key and version columns). `options`: how parts are fetched (tests read small parts by
 * ranges), and which runs' parts are worth reading at all.
 */
export async function loadKeyIndex(
  store: ObjectStore,
  dataset: string,
  entity: string,
  keyColumns: readonly string[],
  excludeRunId: string,
  committed: CommittedRuns,
  only?: WantedKeys,
  options: KeyIndexOptions = {},
): Promise<KeyIndex> {
  const { runs, filterAfter = 0, ...fetching } = options;
  const wantedRuns = new Map<string, Promise<boolean>>();
  const isWantedRun = (runId: string) => {
    let answer = wantedRuns.get(runId);
    if (!answer) wantedRuns.set(runId, (answer = runs ? runs(runId) : Promise.resolve(true)));
    return answer;
  };
  // Shared: validate's threads look parents up in it without a copy each.
  let index: KeyIndex = new KeyVersionTable<KeyVersion>({ shared: true });
  // Keys share their version object: one per (date, load time, run), not one per key.
  const distinct = new Map<string, KeyVersion>();
  let last: KeyVersion | undefined;
  const versionOf = (date: string | undefined, loadedAt: number, runId: string): KeyVersion => {
    if (last && last.date === date && last.loadedAt === loadedAt && last.runId === runId)
      return last;
    const id = `${date}|${loadedAt}|${runId}`;
    last = distinct.get(id);
    if (!last) distinct.set(id, (last = { date, loadedAt, runId }));
    return last;
  };
  const parts: ObjectInfo[] = [];
  for await (const object of store.list(layout.entityPrefix('validated', dataset, entity))) {
    const { runId } = parseOutputKey(object.key);
    if (!runId || runId === excludeRunId || !object.key.endsWith('.parquet')) continue;
    if (!(await committed.isCommitted(runId)) || !(await isWantedRun(runId))) continue;
    parts.push(object);
  }
  let wanted: WantedKeySet | undefined;
  let asked = only === undefined;
  const columns = [...keyColumns, '_loaded_at', '_run_id'];
  const fetchPart = (part: ObjectInfo) => fetchPartColumns(store, part, columns, fetching);
  for await (const { object, fetched } of fetchInOrder(parts, fetchPart)) {
    const { date, runId } = parseOutputKey(object.key); // runId: set, as listed above
    for await (const rows of readFetchedPart(fetched, { columns })) {
      if (!asked && index.size >= filterAfter) {
        asked = true;
        wanted = await only!();
        if (wanted) index = keptOnly(index, wanted);
      }
      const loaded = rows._loaded_at!;
      for (let i = 0; i < loaded.length; i++) {
        const key = keyOf(rows, keyColumns, i);
        if (key === undefined || (wanted && !wanted.has(key))) continue;
        const version = versionOf(
          date,
          loaded[i] as number,
          (rows._run_id![i] as string) ?? runId!,
        );
        const known = index.get(key);
        if (known && !newer(version, known)) continue;
        // A dense index that cannot take a version (past 65,535 of them) becomes a hash table.
        if (index instanceof DenseKeyVersions && !index.set(key, version)) index = hashed(index);
        if (index instanceof KeyVersionTable) index.set(key, version);
      }
    }
  }
  return index;
}
