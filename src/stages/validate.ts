/**
 * validate: applies the profile's rules to this run's raw rows. Each row ends up valid
 * (validated/, partitioned by date), rejected (rejected/, with reason codes), held (held/, its
 * parent has not arrived yet) or dropped as an exact duplicate, and the report counts each, so
 * rows in = valid + rejected + held + duplicates dropped. Rows held by earlier runs whose parents
 * are now known are released into this run's validated output.
 */
import { layout, parseOutputKey } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import { addCounts, emptyCounts, type EntityCounts } from '../contracts/report.js';
import { DataQualityError, type CartpipeError } from '../errors.js';
import {
  bufferOf,
  readParquet,
  type ColumnDef,
  type Columns,
  type Value,
} from '../formats/parquet.js';
import type { ObjectStore } from '../ports/object-store.js';
import { StageThreads, workerCount } from '../workers/threads.js';
import { getProfile } from '../profiles/registry.js';
import { dateInZone } from '../profiles/time.js';
import type { EntitySpec, Profile } from '../profiles/types.js';
import { parseValue } from '../profiles/values.js';
import { CommittedRuns } from './committed-runs.js';
import { LINEAGE_COLUMNS, type StageConfig, type StageContext } from './context.js';
import { keyOf, loadKeyIndex, newer, type Key, type KeyVersion } from './entity-index.js';
import { hashOf, KeyTable, KeyVersionTable, TAG_LIMIT, type KeyVersionData } from './key-table.js';
import { PartWriter, removeStaleOutputs } from './outputs.js';
import { rawSchema } from './upload.js';

export interface ValidateResult {
  entities: Record<string, EntityCounts>;
  datesTouched: string[];
  outputs: string[];
  /** Set when the batch broke a run-level rule; outputs other than rejected/ were withdrawn. */
  failure?: CartpipeError;
}

export function validatedSchema(entity: EntitySpec): ColumnDef[] {
  return [...entity.columns.map((c) => ({ name: c.name, type: c.type })), ...LINEAGE_COLUMNS];
}
export function heldSchema(entity: EntitySpec): ColumnDef[] {
  return [...validatedSchema(entity), { name: '_reasons', type: 'string' }];
}
export function rejectedSchema(entity: EntitySpec): ColumnDef[] {
  return [
    ...rawSchema(entity),
    { name: '_reasons', type: 'string' },
    { name: '_run_id', type: 'string' },
  ];
}

/** Parents before children, so a child in the same batch as its parent finds it. */
export function entitiesInOrder(profile: Profile): EntitySpec[] {
  const done: EntitySpec[] = [];
  const visit = (e: EntitySpec, path: string[]) => {
    if (done.includes(e)) return;
    if (path.includes(e.name))
      throw new Error(`profile ${profile.name}: parent cycle ${path.join(' -> ')}`);
    for (const p of e.parents ?? []) {
      const parent = profile.entities.find((x) => x.name === p.entity);
      if (!parent)
        throw new Error(`profile ${profile.name}: ${e.name} names unknown parent ${p.entity}`);
      visit(parent, [...path, e.name]);
    }
    done.push(e);
  };
  for (const e of profile.entities) visit(e, []);
  return done;
}

/**
 * A text a spreadsheet would run as a formula when an export of the outputs (an Athena result,
 * a CSV download) is opened in one: it starts with = or @ (or a tab or carriage return that
 * hides what follows), or with + or - followed by more than a number. Such rows are rejected
 * (`formula_like:<column>`) rather than stored: a formula in a product name is an attack, not
 * data, and a reject keeps the row for anyone to look at.
 * @example looksLikeFormula('=HYPERLINK("http://x","y")') // true; looksLikeFormula('-12.5') // false
 */
export function looksLikeFormula(text: string): boolean {
  return /^[=@\t\r]/.test(text) || /^[+-](?![\d\s.,()/-]*$)/.test(text);
}

/**
 * 53-bit hash (cyrb53) of a raw row: its text columns in order, each ended by a separator no text
 * holds (so "a","bc" and "ab","c" differ) and null told apart from "". Recognises exact duplicates
 * without building a string per row.
 */
function rowFingerprint(columns: readonly (readonly Value[])[], row: number): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const mix = (code: number) => {
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  };
  for (const column of columns) {
    const text = column[row];
    if (typeof text === 'string') for (let i = 0; i < text.length; i++) mix(text.charCodeAt(i));
    mix(text === null || text === undefined ? 0x10001 : 0x10000);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Rows reach validate's writers one at a time, spread over a date each: values wait as JS arrays
 * only briefly (a few thousand rows a date, 32k in all) and then sit encoded in their date's open
 * row group, which is how the writer's byte budget, not the row count, bounds memory.
 */
const WRITER_OPTIONS = { sliceRows: 4096, maxBufferedRows: 32_768 };

interface Writers {
  validated: PartWriter;
  held: PartWriter;
  rejected: PartWriter;
}

/** A table of keys -> versions as it crosses threads (shared arrays: no copy). */
type KeyVersions = KeyVersionData<KeyVersion>;

/**
 * Work one thread does for one entity: the rows of shard `shard` of `shards`. A row's shard is
 * the hash of its key (parsed as validation parses it) or, for a row without one, of its text:
 * every row that can be a duplicate of another, exact or by key, lands in the same shard, so each
 * shard drops and rejects duplicates on its own, in file order, as one pass over all rows would.
 * Each thread reads all of the run's raw parts and skips the rows of other shards.
 */
export interface ValidateShardTask {
  kind: 'validate-shard';
  run: RunManifest;
  config: StageConfig;
  entity: string;
  shard: number;
  shards: number;
  /** Per parent entity: its keys validated before (first) and this run's, one table a shard. */
  parents: Record<string, { earlier: KeyVersions; thisRun: KeyVersions[] }>;
}

export interface ValidateShardResult {
  counts: EntityCounts;
  touched: string[];
  written: Record<'validated' | 'held' | 'rejected', string[]>;
  /** The shard's valid keys and their versions (shared arrays). */
  keys: KeyVersions;
}

/**
 * Shard of a key: numbers by their hash, text by its characters (FNV-1a). Taken from the hash's
 * high bits: each shard's own KeyTable places keys by the low bits, which would otherwise be the
 * same for every key of a shard and crowd half of its slots.
 */
function shardOfKey(key: Key, shards: number): number {
  let h: number;
  if (typeof key === 'number') h = hashOf(key + 0);
  else {
    h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    h >>>= 0;
  }
  return Math.floor((h / 2 ** 32) * shards);
}

/** A parsed value as validation stores it: enum text trimmed and lower-cased. */
function normalised(spec: EntitySpec['columns'][number], value: Value): Value {
  return spec.enum && typeof value === 'string' ? value.trim().toLowerCase() : value;
}

/** The first table that knows `key`: callers list this run's tables before earlier runs'. */
function firstVersion(
  tables: readonly KeyVersionTable<KeyVersion>[],
  key: Key,
): KeyVersion | undefined {
  for (const table of tables) {
    const version = table.get(key);
    if (version) return version;
  }
  return undefined;
}

/** Validates shard `task.shard` of one entity's raw rows (see {@link ValidateShardTask}). */
export async function validateShard(
  store: ObjectStore,
  task: ValidateShardTask,
): Promise<ValidateShardResult> {
  const { run, config, shard, shards } = task;
  const profile = getProfile(run.dataset);
  const entity = profile.entities.find((e) => e.name === task.entity)!;
  const { RUN_ID: runId, CARTPIPE_TIME_ZONE: timeZone } = config;
  const loadedAt = Date.parse(run.createdAt);
  const parseContext = { timeZone };
  const counts = emptyCounts();
  const touched = new Set<string>();
  // Every key this shard has seen, tagged with its row's fingerprint (duplicates), with a
  // version once its row is valid. Shared: the next entity's shards look keys up without a copy.
  const mine = new KeyVersionTable<KeyVersion>({ shared: true, tagged: true });
  const parentTables = new Map(
    Object.entries(task.parents).map(([name, t]) => [
      name,
      [...t.thisRun, t.earlier].map((data) => KeyVersionTable.from(data)),
    ]),
  );
  // This run's keys share one version object per date instead of one each.
  const versions = new Map<string | undefined, KeyVersion>();
  const versionOn = (date: string | undefined): KeyVersion => {
    let version = versions.get(date);
    if (!version) versions.set(date, (version = { date, loadedAt, runId }));
    return version;
  };
  /** This run's version of a parent key first, then the latest validated before. */
  const findParent = (entityName: string, key: Key): KeyVersion | undefined =>
    firstVersion(parentTables.get(entityName) ?? [], key);

  const options = { ...WRITER_OPTIONS, rowsPerPart: config.CARTPIPE_ROWS_PER_PART, file: shard };
  const writers: Writers = {
    validated: new PartWriter(store, validatedSchema(entity), options),
    held: new PartWriter(store, heldSchema(entity), options),
    rejected: new PartWriter(store, rejectedSchema(entity), options),
  };
  try {
    const names = entity.columns.map((c) => c.name);
    // Derived columns are computed from the parsed row; raw/ holds only the columns read.
    const rawNames = entity.columns.filter((c) => !c.derive).map((c) => c.name);
    const derived = entity.columns.flatMap((c, i) => (c.derive ? [i] : []));
    const prefixes = new Map<string | undefined, string>();
    const validPrefix = (date: string | undefined) => {
      let prefix = prefixes.get(date);
      if (prefix === undefined) {
        prefix = layout.runOutputPrefix('validated', run.dataset, entity.name, runId, date);
        prefixes.set(date, prefix);
      }
      return prefix;
    };
    const heldPrefix = layout.runOutputPrefix('held', run.dataset, entity.name, runId);
    const rejectedPrefix = layout.runOutputPrefix('rejected', run.dataset, entity.name, runId);
    const rowFingerprints = new KeyTable();
    const keyIndices = (entity.key ?? []).map((k) => names.indexOf(k));
    const keyOfValues = (values: Value[]): Key | undefined => {
      if (keyIndices.length === 0) return undefined;
      if (keyIndices.length === 1) return (values[keyIndices[0]!] ?? undefined) as Key | undefined;
      const parts = keyIndices.map((k) => values[k]);
      return parts.some((v) => v === null) ? undefined : parts.join('\u0001');
    };
    /** The key a raw row will have if its key columns parse (its shard), else undefined. */
    const rawKey = (raw: Columns, i: number): Key | undefined => {
      if (keyIndices.length === 0 || raw._problem![i]) return undefined;
      const values: Value[] = [];
      for (const k of keyIndices) {
        const spec = entity.columns[k]!;
        const text = raw[spec.name]?.[i] as string | null | undefined;
        if (text === null || text === undefined || text.trim() === '') return undefined;
        const parsed = parseValue(spec, text, parseContext);
        if (!parsed.ok) return undefined;
        values[k] = normalised(spec, parsed.value);
      }
      return keyOfValues(values);
    };
    const dateParent = entity.parents?.find((p) => p.datesFromParent);
    const dateParentColumn = dateParent ? names.indexOf(dateParent.column) : -1;
    const dateColumnIndex = entity.dateColumn ? names.indexOf(entity.dateColumn) : -1;
    const parents = (entity.parents ?? []).map((p) => ({
      entity: p.entity,
      column: names.indexOf(p.column),
      reason: `missing_parent:${p.entity}`,
    }));

    /** Date of a parsed row, from its own timestamp or its parent's date. */
    const dateOf = (values: Value[]): string | undefined => {
      if (dateColumnIndex >= 0) return dateInZone(values[dateColumnIndex] as number, timeZone);
      if (dateParent) return findParent(dateParent.entity, values[dateParentColumn] as Key)?.date;
      return undefined;
    };
    const missingParents = (values: Value[]): string | undefined => {
      let missing: string | undefined;
      for (const p of parents) {
        const v = values[p.column];
        if (v === null || findParent(p.entity, v as Key) === undefined)
          missing = missing === undefined ? p.reason : `${missing},${p.reason}`;
      }
      return missing;
    };
    const rawColumnNames = [...rawNames, '_source_file', '_source_row', '_problem'];

    for await (const object of store.list(
      layout.runOutputPrefix('raw', run.dataset, entity.name, runId),
    )) {
      const file = bufferOf(await store.get(object.key));
      for await (const raw of readParquet(file)) {
        const length = raw._source_row!.length;
        const rawText = rawNames.map((n) => raw[n]!);
        const rawColumns = rawColumnNames.map((n) => raw[n]!);
        for (let i = 0; i < length; i++) {
          // Another shard's row is skipped as early as can be: by its key when it has one.
          let print: number | undefined;
          if (shards > 1) {
            const key = rawKey(raw, i);
            if (key !== undefined) {
              if (shardOfKey(key, shards) !== shard) continue;
            } else {
              print = rowFingerprint(rawText, i);
              if (Math.floor((print / 2 ** 53) * shards) !== shard) continue;
            }
          }
          // Exact copies of a row already seen in this batch are dropped, whatever their validity.
          print ??= rowFingerprint(rawText, i);
          counts.rowsIn += 1;
          const reasons: string[] = [];
          const problem = raw._problem![i] as string | null;
          if (problem) reasons.push(problem);
          const values: Value[] = new Array(names.length);
          if (!problem) {
            for (let c = 0; c < names.length; c++) {
              const spec = entity.columns[c]!;
              if (spec.derive) continue;
              const text = raw[spec.name]![i] as string | null;
              if (text === null || text.trim() === '') {
                values[c] = null;
                if (spec.required) reasons.push(`missing_value:${spec.name}`);
                continue;
              }
              const parsed = parseValue(spec, text, parseContext);
              if (!parsed.ok) {
                reasons.push(`${parsed.reason}:${spec.name}`);
                values[c] = null;
                continue;
              }
              // The formula check sees the text as written, before an enum value is normalised.
              if (
                spec.type === 'string' &&
                typeof parsed.value === 'string' &&
                looksLikeFormula(parsed.value)
              ) {
                reasons.push(`formula_like:${spec.name}`);
              }
              const value = normalised(spec, parsed.value);
              if (spec.enum && typeof value === 'string' && !spec.enum.includes(value)) {
                reasons.push(`not_in_enum:${spec.name}`);
              }
              if (spec.min !== undefined && typeof value === 'number' && value < spec.min) {
                reasons.push(`below_minimum:${spec.name}`);
              }
              values[c] = value;
            }
            if (reasons.length === 0 && derived.length > 0) {
              const row = Object.fromEntries(names.map((n, c) => [n, values[c] ?? null]));
              for (const c of derived) values[c] = entity.columns[c]!.derive!(row);
            }
            if (reasons.length === 0 && entity.rules) {
              reasons.push(
                ...entity.rules(Object.fromEntries(names.map((n, c) => [n, values[c]!]))),
              );
            }
          }
          const key = reasons.length === 0 ? keyOfValues(values) : undefined;
          // What the key table keeps of the fingerprint: 37 of its 53 bits.
          const tag = print % TAG_LIMIT;
          if (key !== undefined) {
            // A row with the key of one seen before: an exact copy if their fingerprints agree,
            // a conflicting row otherwise.
            const seen = mine.tagOf(key);
            if (seen === tag) {
              counts.duplicatesDropped += 1;
              continue;
            }
            if (seen !== undefined) reasons.push('duplicate_key');
            else mine.setTagged(key, tag);
          } else if (rowFingerprints.has(print)) {
            counts.duplicatesDropped += 1;
            continue;
          } else if (!entity.key) {
            rowFingerprints.set(print, 1);
          }

          if (reasons.length > 0) {
            counts.rejected += 1;
            for (const r of reasons)
              counts.rejectsByReason[r] = (counts.rejectsByReason[r] ?? 0) + 1;
            const rejected: Value[] = rawColumns.map((column) => column[i] ?? null);
            rejected.push(reasons.join(','), runId);
            writers.rejected.appendRow(rejectedPrefix, rejected);
            continue;
          }
          // values becomes the output row: the parsed columns, then the lineage columns.
          values.push(runId, loadedAt, raw._source_file![i]!, raw._source_row![i]!);
          const missing = missingParents(values);
          if (missing !== undefined) {
            counts.held += 1;
            values.push(missing);
            writers.held.appendRow(heldPrefix, values);
            continue;
          }
          const date = dateOf(values);
          counts.valid += 1;
          if (date) touched.add(date);
          if (key !== undefined) mine.setTagged(key, tag, versionOn(date));
          writers.validated.appendRow(validPrefix(date), values);
        }
      }
    }
    return {
      counts,
      touched: [...touched],
      written: {
        validated: await writers.validated.finish(),
        held: await writers.held.finish(),
        rejected: await writers.rejected.finish(),
      },
      keys: mine.data(),
    };
  } catch (error) {
    writers.validated.discard();
    writers.held.discard();
    writers.rejected.discard();
    throw error;
  }
}

export async function runValidate(ctx: StageContext, run: RunManifest): Promise<ValidateResult> {
  const profile = getProfile(run.dataset);
  const { RUN_ID: runId, CARTPIPE_TIME_ZONE: timeZone } = ctx.config;
  const entities: Record<string, EntityCounts> = {};
  const touched = new Set<string>();
  const committed = new CommittedRuns(ctx.store);
  /** Keys validated by earlier runs, per entity (loaded when first needed). */
  const earlier = new Map<string, KeyVersionTable<KeyVersion>>();
  /** This run's valid keys per entity: one table per shard, keys split between them. */
  const thisRun = new Map<string, KeyVersionTable<KeyVersion>[]>();
  const written = new Map<string, Record<'validated' | 'held' | 'rejected', string[]>>();
  const releaseWriters: PartWriter[] = [];
  // One shard per thread: the part layout follows the thread count (re-runs on the same task
  // size write the same bytes), as a cluster's output files follow its task count.
  const threads = new StageThreads(ctx, workerCount(ctx.config.CARTPIPE_WORKERS));
  const shards = threads.size;

  const earlierIndex = async (entity: EntitySpec) => {
    let index = earlier.get(entity.name);
    if (!index) {
      index = entity.key
        ? await loadKeyIndex(ctx.store, run.dataset, entity.name, entity.key, runId, committed)
        : new KeyVersionTable<KeyVersion>({ shared: true });
      earlier.set(entity.name, index);
    }
    return index;
  };
  const findParent = (entityName: string, key: Key): KeyVersion | undefined =>
    firstVersion(thisRun.get(entityName) ?? [], key) ?? earlier.get(entityName)?.get(key);

  try {
    for (const entity of entitiesInOrder(profile)) {
      const parents: ValidateShardTask['parents'] = {};
      for (const p of entity.parents ?? []) {
        const parent = profile.entities.find((e) => e.name === p.entity)!;
        parents[p.entity] = {
          earlier: (await earlierIndex(parent)).data(),
          thisRun: (thisRun.get(p.entity) ?? []).map((t) => t.data()),
        };
      }
      const shardIds = Array.from({ length: shards }, (_, i) => i);
      const results = await threads.map(shardIds, (shard, _, signal) => {
        const task: ValidateShardTask = {
          kind: 'validate-shard',
          run,
          config: ctx.config,
          entity: entity.name,
          shard,
          shards,
          parents,
        };
        return threads.run(task, (store) => validateShard(store, task), signal);
      });
      const counts = (entities[entity.name] = emptyCounts());
      const areas: Record<'validated' | 'held' | 'rejected', string[]> = {
        validated: [],
        held: [],
        rejected: [],
      };
      for (const result of results) {
        addCounts(counts, result.counts);
        for (const date of result.touched) touched.add(date);
        for (const area of ['validated', 'held', 'rejected'] as const)
          areas[area].push(...result.written[area]);
      }
      thisRun.set(
        entity.name,
        results.map((r) => KeyVersionTable.from(r.keys)),
      );
      written.set(entity.name, areas);
      if (entity.parents?.length) {
        // Released rows go to parts of their own, numbered after the shards'.
        const release = new PartWriter(ctx.store, validatedSchema(entity), {
          rowsPerPart: ctx.config.CARTPIPE_ROWS_PER_PART,
          file: shards,
        });
        releaseWriters.push(release);
        await releaseHeld(entity, counts, release);
        areas.validated.push(...(await release.finish()));
      }
    }

    const totals = Object.values(entities).reduce(
      (a, c) => ({ rowsIn: a.rowsIn + c.rowsIn, rejected: a.rejected + c.rejected }),
      { rowsIn: 0, rejected: 0 },
    );
    const ratio = totals.rowsIn === 0 ? 0 : totals.rejected / totals.rowsIn;
    let failure: CartpipeError | undefined;
    if (ratio > ctx.config.CARTPIPE_REJECT_THRESHOLD) {
      failure = new DataQualityError(
        'reject_ratio_exceeded',
        `${totals.rejected} of ${totals.rowsIn} rows rejected (${(ratio * 100).toFixed(1)}%), above the ${(ctx.config.CARTPIPE_REJECT_THRESHOLD * 100).toFixed(1)}% threshold; see rejected/${run.dataset}/*/run=${runId}/`,
      );
    }
    const outputs: string[] = [];
    for (const entity of entitiesInOrder(profile)) {
      const areas = written.get(entity.name)!;
      for (const area of ['validated', 'held', 'rejected'] as const) {
        // A failed run withdraws its validated and held rows; its rejects stay to be looked at.
        const keep = failure && area !== 'rejected' ? [] : areas[area];
        outputs.push(...keep);
        await removeStaleOutputs(
          ctx.store,
          layout.entityPrefix(area, run.dataset, entity.name),
          runId,
          new Set(keep),
        );
      }
    }
    return {
      entities,
      datesTouched: failure ? [] : [...touched].sort(),
      outputs: outputs.sort(),
      ...(failure ? { failure } : {}),
    };
  } catch (error) {
    for (const w of releaseWriters) w.discard();
    throw error;
  } finally {
    await threads.close();
  }

  /** Re-checks rows held by earlier runs; those whose parents are now known join this run's output. */
  async function releaseHeld(
    entity: EntitySpec,
    counts: EntityCounts,
    writer: PartWriter,
  ): Promise<void> {
    const names = entity.columns.map((c) => c.name);
    const known = await earlierIndex(entity);
    const mine = thisRun.get(entity.name)!;
    const validPrefix = (date: string | undefined) =>
      layout.runOutputPrefix('validated', run.dataset, entity.name, runId, date);
    const pending = new Map<
      Key | number,
      { values: Value[]; version: { loadedAt: number; runId: string }; lineage: Value[] }
    >();
    let anonymous = 0;
    for await (const object of ctx.store.list(
      layout.entityPrefix('held', run.dataset, entity.name),
    )) {
      const heldBy = parseOutputKey(object.key).runId;
      if (!heldBy || heldBy === runId || !object.key.endsWith('.parquet')) continue;
      if (!(await committed.isCommitted(heldBy))) continue;
      for await (const cols of readParquet(bufferOf(await ctx.store.get(object.key)))) {
        for (let i = 0; i < cols._run_id!.length; i++) {
          const version = {
            loadedAt: cols._loaded_at![i] as number,
            runId: cols._run_id![i] as string,
          };
          const key = entity.key ? keyOf(cols, entity.key, i) : undefined;
          const id = key ?? -++anonymous;
          const previous = pending.get(id);
          if (previous && !newer(version, previous.version)) continue;
          pending.set(id, {
            values: names.map((n) => cols[n]![i] ?? null),
            version,
            lineage: [
              runId,
              version.loadedAt,
              cols._source_file![i] ?? null,
              cols._source_row![i] ?? null,
            ],
          });
        }
      }
    }
    const dateParent = entity.parents?.find((p) => p.datesFromParent);
    for (const [id, row] of pending) {
      if (entity.key) {
        const validated = known.get(id);
        // A released copy is stored under the releasing run's id with the holding run's load
        // time, so "newer" (which breaks ties by run id) cannot tell it from the held row: any
        // version loaded at or after the held one means it was released or replaced already.
        if (validated && validated.loadedAt >= row.version.loadedAt) continue;
        if (mine.some((t) => t.has(id))) continue; // this batch carries a newer version
      }
      const missing = (entity.parents ?? []).some((p) => {
        const v = row.values[names.indexOf(p.column)];
        return v === null || findParent(p.entity, v as Key) === undefined;
      });
      if (missing) continue;
      const date = entity.dateColumn
        ? dateInZone(row.values[names.indexOf(entity.dateColumn)] as number, timeZone)
        : dateParent
          ? findParent(dateParent.entity, row.values[names.indexOf(dateParent.column)] as Key)?.date
          : undefined;
      counts.released += 1;
      if (date) touched.add(date);
      writer.appendRow(validPrefix(date), [...row.values, ...row.lineage]);
    }
  }
}
