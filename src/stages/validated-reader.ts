/**
 * Reads validated/ the way every consumer must: all runs' parts of a date partition (or of an
 * undated entity), keeping the latest version of each key, so a re-sent row replaces the old one.
 */
import { layout } from '../contracts/layout.js';
import { bufferOf, readParquet, type Columns, type Value } from '../formats/parquet.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { EntitySpec, Profile } from '../profiles/types.js';
import { keyOf, newer, type Key } from './entity-index.js';

export class ValidatedReader {
  private readonly cache = new Map<string, Promise<Columns>>();
  /** Parquet parts read, for the report (partition pruning is visible there). */
  partsRead = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly profile: Profile,
  ) {}

  rows(entityName: string, date?: string): Promise<Columns> {
    const entity = this.profile.entities.find((e) => e.name === entityName);
    if (!entity) throw new Error(`profile ${this.profile.name} has no entity ${entityName}`);
    const cacheKey = `${entityName}/${date ?? '*'}`;
    let rows = this.cache.get(cacheKey);
    if (!rows) {
      const dated =
        entity.dateColumn !== undefined || entity.parents?.some((p) => p.datesFromParent);
      const prefix =
        dated && date
          ? layout.datePrefix(this.profile.name, entityName, date)
          : layout.entityPrefix('validated', this.profile.name, entityName);
      rows = this.read(entity, prefix);
      this.cache.set(cacheKey, rows);
    }
    return rows;
  }

  private async read(entity: EntitySpec, prefix: string): Promise<Columns> {
    const names = [...entity.columns.map((c) => c.name), '_loaded_at', '_run_id'];
    const out: Columns = Object.fromEntries(names.map((n) => [n, [] as Value[]]));
    const latest = new Map<Key, number>(); // key -> row index in out
    for await (const object of this.store.list(prefix)) {
      if (!object.key.endsWith('.parquet')) continue;
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
