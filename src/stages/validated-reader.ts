/**
 * Reads validated/ the way every consumer must: all runs' parts of some date partitions (or of
 * an undated entity), keeping the latest version of each key, so a re-sent row replaces the old
 * one (also when it moved to another of the dates read).
 */
import { layout, parseOutputKey } from '../contracts/layout.js';
import { bufferOf, readParquet, type Columns, type Value } from '../formats/parquet.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { EntitySpec, Profile } from '../profiles/types.js';
import { CommittedRuns } from './committed-runs.js';
import { LINEAGE_COLUMNS } from './context.js';
import { keyOf, newer, type Key } from './entity-index.js';

export class ValidatedReader {
  private readonly cache = new Map<string, Promise<Columns>>();
  /** Parquet parts read, for the report (partition pruning is visible there). */
  partsRead = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly profile: Profile,
    private readonly committed = new CommittedRuns(store),
  ) {}

  /** Rows of `dates` (one or several) of a dated entity, or every row of an undated one. */
  rows(entityName: string, dates?: string | readonly string[]): Promise<Columns> {
    const entity = this.profile.entities.find((e) => e.name === entityName);
    if (!entity) throw new Error(`profile ${this.profile.name} has no entity ${entityName}`);
    const list = dates === undefined ? [] : typeof dates === 'string' ? [dates] : [...dates];
    const dated = entity.dateColumn !== undefined || entity.parents?.some((p) => p.datesFromParent);
    const prefixes =
      dated && list.length > 0
        ? list.map((d) => layout.datePrefix(this.profile.name, entityName, d))
        : [layout.entityPrefix('validated', this.profile.name, entityName)];
    // Undated entities (products) are read once per reader; dated rows are not kept, so a profile
    // walking a month date by date holds one date at a time.
    if (dated) return this.read(entity, prefixes);
    let rows = this.cache.get(entityName);
    if (!rows) {
      rows = this.read(entity, prefixes);
      this.cache.set(entityName, rows);
    }
    return rows;
  }

  private async read(entity: EntitySpec, prefixes: readonly string[]): Promise<Columns> {
    const names = [...entity.columns.map((c) => c.name), ...LINEAGE_COLUMNS.map((c) => c.name)];
    const out: Columns = Object.fromEntries(names.map((n) => [n, [] as Value[]]));
    const latest = new Map<Key, number>(); // key -> row index in out
    const objects = [];
    for (const prefix of prefixes) for await (const o of this.store.list(prefix)) objects.push(o);
    for (const object of objects) {
      if (!object.key.endsWith('.parquet')) continue;
      const { runId } = parseOutputKey(object.key);
      if (!runId || !(await this.committed.isCommitted(runId))) continue;
      this.partsRead += 1;
      for await (const cols of readParquet(bufferOf(await this.store.get(object.key)), {
        columns: names,
      })) {
        const n = cols._run_id!.length;
        for (let i = 0; i < n; i++) {
          const key = entity.key ? keyOf(cols, entity.key, i) : undefined;
          let at = out._run_id!.length;
          if (key !== undefined) {
            const existing = latest.get(key);
            if (existing !== undefined) {
              const candidate = {
                loadedAt: cols._loaded_at![i] as number,
                runId: cols._run_id![i] as string,
              };
              const current = {
                loadedAt: out._loaded_at![existing] as number,
                runId: out._run_id![existing] as string,
              };
              if (!newer(candidate, current)) continue;
              at = existing;
            } else {
              latest.set(key, at);
            }
          }
          for (const name of names) out[name]![at] = cols[name]![i] ?? null;
        }
      }
    }
    return out;
  }
}
