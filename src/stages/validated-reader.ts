/**
 * Reads validated/ the way every consumer must: all runs' parts of some date partitions (or of
 * an undated entity), keeping the latest version of each key, so a re-sent row replaces the old
 * one (also when it moved to another of the dates read).
 */
import { layout, parseOutputKey } from '../contracts/layout.js';
import type { Columns, Value } from '../formats/parquet.js';
import { PAGE_ROWS } from '../formats/parquet-encoder.js';
import {
  fetchInOrder,
  listAll,
  type FetchAhead,
  type ObjectInfo,
  type ObjectStore,
} from '../ports/object-store.js';
import type { EntitySpec, Profile } from '../profiles/types.js';
import { CommittedRuns } from './committed-runs.js';
import { LINEAGE_COLUMNS } from './context.js';
import { keyOf, newer } from './entity-index.js';
import { KeyTable } from './key-table.js';
import type { Admit, Release } from './prefetch-budget.js';
import {
  fetchPartColumns,
  readFetchedPart,
  WHOLE_PART_BYTES,
  type FetchedPart,
} from './parquet-parts.js';

/**
 * Undated entities' rows (thelook's products) kept across the readers of one compute-kpi run,
 * by the exact set of committed parts they came from: a reader whose listing finds the same
 * parts reuses them instead of decoding the catalogue once per date, and any new or replaced
 * part makes it read afresh.
 */
export class UndatedRowsCache {
  private readonly entries = new Map<string, { parts: string; rows: Promise<Columns> }>();

  get(id: string, parts: string, read: () => Promise<Columns>): Promise<Columns> {
    const hit = this.entries.get(id);
    if (hit && hit.parts === parts) return hit.rows;
    const rows = read();
    this.entries.set(id, { parts, rows });
    rows.catch(() => this.entries.delete(id));
    return rows;
  }
}

/**
 * Rows of a batch: a page of the pipeline's own parts (PAGE_ROWS), so a batch's arrays stay small
 * objects for V8 (a column of the 27k rows of a day's items part at 20M was a large object, which
 * only a full collection frees) and a period holds the same few arrays whatever its day's size.
 */
const BATCH_ROWS = PAGE_ROWS;

/**
 * How far a reader fetches parts ahead of the one it decodes: 4 MB of them, and at least the next
 * (an S3 GET is a round trip, and a date's parts one after another were that many round trips per
 * period).
 */
const FETCH_AHEAD: FetchAhead = { bytes: 4 * 1024 * 1024, minObjects: 2 };

/** Date prefixes a reader lists at once (a window of a month or a year has one per day). */
const LISTINGS_AT_ONCE = 16;

export class ValidatedReader {
  private readonly cache = new Map<string, Promise<Columns>>();
  /** Parquet parts read, for the report (partition pruning is visible there). */
  partsRead = 0;

  private readonly wholePartBytes: number;
  private readonly admit: Admit | undefined;

  /**
   * `options.wholePartBytes`: parts up to this size are fetched whole ({@link WHOLE_PART_BYTES}).
   * `options.admit`: asked before each part of this reader's own rows is fetched, and given back
   * when the part is handed out (compute-kpi's PrefetchBudget); undated rows, shared with other
   * readers through the cache, are read without it.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly profile: Profile,
    private readonly committed = new CommittedRuns(store),
    private readonly undated = new UndatedRowsCache(),
    options: { wholePartBytes?: number; admit?: Admit } = {},
  ) {
    this.wholePartBytes = options.wholePartBytes ?? WHOLE_PART_BYTES;
    this.admit = options.admit;
  }

  /**
   * Rows of `dates` (one or several) of a dated entity, or every row of an undated one; with
   * `columns`, only those (in that order), the others not even decoded.
   */
  rows(
    entityName: string,
    dates?: string | readonly string[],
    columns?: readonly string[],
  ): Promise<Columns> {
    const { entity, wanted, prefixes, dated } = this.plan(entityName, dates, columns);
    // Dated rows are not kept, so a profile walking a month date by date holds one date at a time.
    if (dated) return this.concatenated(entity, prefixes, wanted, this.admit);
    const id = `${entityName}|${wanted.join(',')}`;
    let rows = this.cache.get(id);
    if (!rows) {
      // Not under this reader's admissions: another reader may wait for these rows, and this
      // one's admissions may wait for that reader's turn.
      rows = this.committedParts(prefixes).then((parts) =>
        this.undated.get(id, parts.map((p) => `${p.key}@${p.etag}`).join('\n'), () =>
          this.concatenated(entity, prefixes, wanted, undefined, parts),
        ),
      );
      this.cache.set(id, rows);
    }
    return rows;
  }

  /**
   * The rows {@link rows} returns, in batches of at most {@link BATCH_ROWS} rows and in no set
   * order: a profile that folds a date into totals holds a batch of it, not the whole date, so its
   * memory does not grow with the day (compute-kpi at 20M rows held ~55k items per day and period
   * in flight).
   */
  batches(
    entityName: string,
    dates?: string | readonly string[],
    columns?: readonly string[],
  ): AsyncIterable<Columns> {
    const { entity, wanted, prefixes } = this.plan(entityName, dates, columns);
    // Listed, and the first parts fetched (FETCH_AHEAD), from now on rather than when first
    // iterated: a profile asking for two entities has the second's parts on their way while it
    // folds the first, and a compute-kpi period waiting for its turn to fold has its parts in hand
    // when the turn comes, instead of holding the turn through round trips (with only the first
    // part fetched ahead, 20 ms a store call made 20M rows 7.9 -> 12.8 s).
    const parts = this.committedParts(prefixes);
    const started = quietly(parts.then((list) => this.inOrder(list, wanted, this.admit)));
    return this.latest(entity, parts, wanted, this.admit, started);
  }

  private plan(
    entityName: string,
    dates: string | readonly string[] | undefined,
    columns: readonly string[] | undefined,
  ): { entity: EntitySpec; wanted: readonly string[]; prefixes: string[]; dated: boolean } {
    const entity = this.profile.entities.find((e) => e.name === entityName);
    if (!entity) throw new Error(`profile ${this.profile.name} has no entity ${entityName}`);
    const all = [...entity.columns.map((c) => c.name), ...LINEAGE_COLUMNS.map((c) => c.name)];
    const unknown = columns?.filter((c) => !all.includes(c)) ?? [];
    if (unknown.length > 0)
      throw new Error(`${this.profile.name}.${entityName} has no column ${unknown.join(', ')}`);
    const list = dates === undefined ? [] : typeof dates === 'string' ? [dates] : [...dates];
    const dated =
      entity.dateColumn !== undefined || (entity.parents?.some((p) => p.datesFromParent) ?? false);
    const prefixes =
      dated && list.length > 0
        ? list.map((d) => layout.datePrefix(this.profile.name, entityName, d))
        : [layout.entityPrefix('validated', this.profile.name, entityName)];
    return { entity, wanted: columns ?? all, prefixes, dated };
  }

  /**
   * The committed parts under `prefixes`, in their order. The prefixes are listed several at once:
   * a month's window has ~30 date prefixes, and listed one after another on S3 they were ~30
   * round trips before its first row.
   */
  private async committedParts(prefixes: readonly string[]): Promise<ObjectInfo[]> {
    const parts: ObjectInfo[] = [];
    const listings = fetchInOrder(
      prefixes.map((prefix) => ({ prefix, size: 0 })),
      ({ prefix }) => listAll(this.store, prefix),
      { maxObjects: LISTINGS_AT_ONCE },
    );
    for await (const { fetched } of listings) {
      for (const o of fetched) {
        if (!o.key.endsWith('.parquet')) continue;
        const { runId } = parseOutputKey(o.key);
        if (runId && (await this.committed.isCommitted(runId))) parts.push(o);
      }
    }
    return parts;
  }

  /**
   * Every batch decoded first, then the output arrays made once at their final size: arrays
   * grown row by row leave each smaller copy to the garbage collector.
   */
  private async concatenated(
    entity: EntitySpec,
    prefixes: readonly string[],
    wanted: readonly string[],
    admit: Admit | undefined,
    listed?: readonly ObjectInfo[],
  ): Promise<Columns> {
    const parts = listed ?? (await this.committedParts(prefixes));
    const batches: Columns[] = [];
    let total = 0;
    for await (const batch of this.latest(entity, Promise.resolve(parts), wanted, admit)) {
      batches.push(batch);
      total += batch[wanted[0]!]?.length ?? 0;
    }
    const out: Columns = {};
    for (const name of wanted) {
      const target = new Array<Value>(total);
      let at = 0;
      for (const batch of batches) {
        const source = batch[name]!;
        for (let i = 0; i < source.length; i++) target[at++] = source[i] ?? null;
      }
      out[name] = target;
    }
    return out;
  }

  /**
   * The latest version of each key among `parts`, as batches of `wanted`. A committed run's
   * validated parts hold each key once (validate rejects a second row of a key, drops exact
   * copies, releases no held row whose key the batch carries, and deletes what an earlier attempt
   * wrote before it commits), so parts of a single run are read as they are; only across runs is
   * a key looked for twice: a first pass over the keys and versions marks each key's latest row,
   * a second reads the wanted columns of the marked rows.
   */
  private async *latest(
    entity: EntitySpec,
    listing: Promise<readonly ObjectInfo[]>,
    wanted: readonly string[],
    admit: Admit | undefined,
    started?: Promise<AsyncIterable<{ fetched: FetchedPart }>>,
  ): AsyncGenerator<Columns> {
    const parts = await listing;
    const keyColumns = entity.key ?? [];
    const runs = new Set(parts.map((p) => parseOutputKey(p.key).runId));
    const marked =
      keyColumns.length > 0 && runs.size > 1
        ? await this.marks(parts, keyColumns, admit)
        : undefined;
    let row = 0;
    const ordered = started ? await started : this.inOrder(parts, wanted, admit);
    for await (const { fetched } of ordered) {
      this.partsRead += 1;
      for await (const batch of readFetchedPart(fetched, {
        columns: wanted,
        batchRows: BATCH_ROWS,
      })) {
        const length = batch[wanted[0]!]?.length ?? 0;
        const start = row;
        row += length;
        if (!marked) {
          yield batch;
          continue;
        }
        const keep = marked.subarray(start, row);
        if (keep.every((k) => k === 1)) {
          yield batch;
          continue;
        }
        const kept: Columns = {};
        for (const name of wanted) kept[name] = batch[name]!.filter((_, i) => keep[i] === 1);
        yield kept;
      }
    }
  }

  /** A part's bytes for decoding `columns` ({@link fetchPartColumns}). */
  private async fetch(part: ObjectInfo, columns: readonly string[]): Promise<FetchedPart> {
    return fetchPartColumns(this.store, part, columns, { wholePartBytes: this.wholePartBytes });
  }

  /**
   * The parts' bytes for decoding `columns`, in order, fetched ahead ({@link FETCH_AHEAD}) as far
   * as `admit` lets them (the first fetches start now, not when first iterated).
   */
  private inOrder(
    parts: readonly ObjectInfo[],
    columns: readonly string[],
    admit: Admit | undefined,
  ): AsyncGenerator<{ fetched: FetchedPart }> {
    if (!admit) return fetchInOrder(parts, (part) => this.fetch(part, columns), FETCH_AHEAD);
    // Admissions of parts not handed out yet, given back if the reading stops early.
    const held = new Set<Release>();
    const admitted = fetchInOrder(
      parts,
      async (part) => {
        const release = await admit(part.size);
        held.add(release);
        return { release, part: await this.fetch(part, columns) };
      },
      FETCH_AHEAD,
    );
    return (async function* () {
      try {
        for await (const { fetched } of admitted) {
          held.delete(fetched.release);
          fetched.release();
          yield { fetched: fetched.part };
        }
      } finally {
        for (const release of held) release();
      }
    })();
  }

  /**
   * One byte per row of `parts` (in order): 1 for the row that is its key's latest version (and
   * for a row without a key), 0 for a row a newer copy replaces. Versions compare as
   * {@link newer} says; of two equal versions the first read stays.
   */
  private async marks(
    parts: readonly ObjectInfo[],
    keyColumns: readonly string[],
    admit: Admit | undefined,
  ): Promise<Uint8Array> {
    const decoded = [...new Set([...keyColumns, '_loaded_at', '_run_id'])];
    // Per row: typed arrays outside V8's heap, grown by doubling (the parts' sizes are not known
    // before they are read).
    let keep = new Uint8Array(1024);
    let loadedAt = new Float64Array(1024);
    let runOf = new Int32Array(1024);
    const runIds: string[] = [];
    const runIndex = new Map<string, number>();
    const latest = new KeyTable();
    let rows = 0;
    for await (const { fetched } of this.inOrder(parts, decoded, admit)) {
      for await (const cols of readFetchedPart(fetched, {
        columns: decoded,
        batchRows: BATCH_ROWS,
      })) {
        const loaded = cols._loaded_at!;
        const runs = cols._run_id!;
        if (rows + loaded.length > keep.length) {
          let size = keep.length;
          while (size < rows + loaded.length) size *= 2;
          keep = grown(keep, size);
          loadedAt = grown(loadedAt, size);
          runOf = grown(runOf, size);
        }
        for (let i = 0; i < loaded.length; i++, rows++) {
          const key = keyOf(cols, keyColumns, i);
          keep[rows] = 1;
          if (key === undefined) continue;
          const runId = runs[i] as string;
          let run = runIndex.get(runId);
          if (run === undefined) {
            run = runIds.push(runId) - 1;
            runIndex.set(runId, run);
          }
          loadedAt[rows] = loaded[i] as number;
          runOf[rows] = run;
          const existing = latest.get(key);
          if (existing === undefined) {
            latest.set(key, rows);
            continue;
          }
          const candidate = { loadedAt: loadedAt[rows]!, runId };
          const current = { loadedAt: loadedAt[existing]!, runId: runIds[runOf[existing]!]! };
          if (newer(candidate, current)) {
            keep[existing] = 0;
            latest.set(key, rows);
          } else {
            keep[rows] = 0;
          }
        }
      }
    }
    return keep.subarray(0, rows);
  }
}

/** `promise`, its rejection handled here too: whoever awaits it later still gets the error. */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function grown<T extends Uint8Array | Float64Array | Int32Array>(array: T, size: number): T {
  const bigger = new (array.constructor as new (size: number) => T)(size);
  bigger.set(array);
  return bigger;
}
