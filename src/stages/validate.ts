/**
 * validate: applies the profile's rules to this run's raw rows. Each row ends up valid
 * (validated/, partitioned by date), rejected (rejected/, with reason codes), held (held/, its
 * parent has not arrived yet) or dropped as an exact duplicate, and the report counts each, so
 * rows in = valid + rejected + held + duplicates dropped. Rows held by earlier runs whose parents
 * are now known are released into this run's validated output.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout, parseOutputKey } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import { addCounts, emptyCounts, type EntityCounts } from '../contracts/report.js';
import { DEFAULT_VALIDATE_BUCKET_BYTES } from '../config.js';
import { DataQualityError, NotFoundError, type CartpipeError } from '../errors.js';
import {
  bufferOf,
  readParquet,
  type ColumnDef,
  type Columns,
  type Value,
} from '../formats/parquet.js';
import {
  fetchInOrder,
  getInOrder,
  getJson,
  listAll,
  type ObjectInfo,
  type ObjectStore,
} from '../ports/object-store.js';
import { StageThreads, workerCount } from '../workers/threads.js';
import { getProfile } from '../profiles/registry.js';
import { addDays, dateInZone } from '../profiles/time.js';
import type { ColumnSpec, EntitySpec, Profile } from '../profiles/types.js';
import { parseCell, ParseFailure } from '../profiles/values.js';
import { CommittedRuns } from './committed-runs.js';
import { LINEAGE_COLUMNS, type StageConfig, type StageContext } from './context.js';
import {
  keyOf,
  loadKeyIndex,
  newer,
  type Key,
  type KeyIndex,
  type KeyIndexOptions,
  type KeyVersion,
  type WantedKeys,
  type WantedKeySet,
} from './entity-index.js';
import {
  bucketOfKey,
  DENSE_SLOTS_PER_KEY,
  DenseKeyCodes,
  DenseKeyVersions,
  FrozenKeyVersions,
  isDenseKey,
  KeySet,
  KeyTable,
  KeyVersionTable,
  TAG_LIMIT,
  type DenseKeyCodesData,
  type DenseKeyVersionsData,
  type FrozenKeyVersionsData,
  type KeyTableData,
  type KeyVersionData,
} from './key-table.js';
import { PartWriter, removeStaleOutputs, SpilledPartWriter } from './outputs.js';
import { discardBytes, fetchPartColumns, readFetchedPart } from './parquet-parts.js';
import { readSpill, spillPath, SpillWriter } from './spill.js';
import { rawSchema } from './upload.js';

export interface ValidateResult {
  entities: Record<string, EntityCounts>;
  datesTouched: string[];
  outputs: string[];
  /** Set when the batch broke a run-level rule; outputs other than rejected/ were withdrawn. */
  failure?: CartpipeError;
}

/**
 * validated/ and held/ columns: a column the profile requires is REQUIRED in the Parquet schema
 * too (validation let no null through), which tells Athena and every reader so and lets them
 * skip rebuilding it around nulls. A derived column is computed after the rules, never checked
 * by them: it stays OPTIONAL whatever its spec says.
 */
export function validatedSchema(entity: EntitySpec): ColumnDef[] {
  return [
    ...entity.columns.map((c) => ({
      name: c.name,
      type: c.type,
      required: c.required === true && !c.derive,
    })),
    ...LINEAGE_COLUMNS,
  ];
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
  // The state in locals, not in a closure's context, which V8 keeps in memory: every row's every
  // character goes through this loop (~6% of validate's CPU with a closure, 1M rows, one core).
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let c = 0; c < columns.length; c++) {
    const text = columns[c]![row];
    if (typeof text === 'string') {
      for (let i = 0; i < text.length; i++) {
        const code = text.charCodeAt(i);
        h1 = Math.imul(h1 ^ code, 2654435761);
        h2 = Math.imul(h2 ^ code, 1597334677);
      }
    }
    const end = text === null || text === undefined ? 0x10001 : 0x10000;
    h1 = Math.imul(h1 ^ end, 2654435761);
    h2 = Math.imul(h2 ^ end, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Rows reach validate's writers one at a time, spread over a date each: held and rejected rows
 * wait as JS arrays only briefly (a few thousand rows a date, 32k in all) and then sit encoded in
 * their date's open row group, which is how the writer's byte budget, not the row count, bounds
 * memory; valid rows wait as bytes (SpilledPartWriter), 2,048 a date and 32k in all at most.
 */
const WRITER_OPTIONS = { sliceRows: 4096, maxBufferedRows: 32_768 };

interface Writers {
  validated: SpilledPartWriter;
  held: PartWriter;
  rejected: PartWriter;
}

/** A parent's earlier keys as they cross threads (shared arrays: no copy; see loadKeyIndex). */
type KeyVersions = KeyVersionData<KeyVersion> | DenseKeyVersionsData<KeyVersion>;
type FrozenKeys = FrozenKeyVersionsData<KeyVersion>;

/**
 * A parent entity's valid keys of this run: one frozen table per bucket, and when its keys are
 * integers filling their range, a dense table of them that leaves the bucket tables (nearly)
 * empty. A dense key's version is its date's (its code) with this run's load time and id.
 */
export interface ThisRunKeys {
  buckets: FrozenKeys[];
  dense?: DenseKeyCodesData & { loadedAt: number; runId: string };
}

/** Date of code 2 in a dense key table: codes 2-65,535 name the dates 1900-01-01 to 2079-06-04. */
const DENSE_FIRST_DATE = '1900-01-01';
const DAY_MS = 86_400_000;

/** A date partition's code in a dense key table (1: no date), undefined past its dates. */
function dateCode(date: string | undefined): number | undefined {
  if (date === undefined) return 1;
  const code = 2 + (Date.parse(date) - Date.parse(DENSE_FIRST_DATE)) / DAY_MS;
  return Number.isInteger(code) && code >= 2 && code <= 0xffff && dateOfCode(code) === date
    ? code
    : undefined;
}

function dateOfCode(code: number): string | undefined {
  return code === 1 ? undefined : addDays(DENSE_FIRST_DATE, code - 2);
}

/** Keys a first-pass piece samples for the dense table's range. */
const KEY_SAMPLE_SIZE = 4096;
/**
 * Share of the sampled keys left out of the dense table's range at each end, so that a few
 * outlying ids (a mistyped 99999999 in a bad row) do not stretch it: those keys, when valid, go
 * to the bucket tables.
 */
const DENSE_RANGE_TRIM = 0.01;

/** A piece's keys sampled evenly: every stride-th, the stride doubling whenever the sample fills. */
export class KeySample {
  keys: number[] = [];
  private stride = 1;
  private seen = 0;

  add(key: number): void {
    if (this.seen++ % this.stride !== 0) return;
    this.keys.push(key);
    if (this.keys.length === KEY_SAMPLE_SIZE) {
      this.keys = this.keys.filter((_, i) => i % 2 === 0);
      this.stride *= 2;
    }
  }
}

/**
 * A dense table for an entity's keys, from what the first pass saw of them (every piece's keys
 * integers a dense table holds): over the range of the sampled keys without their outer
 * DENSE_RANGE_TRIM, when it is at most DENSE_SLOTS_PER_KEY slots a key; else undefined.
 */
export function denseKeysFor(
  pieces: readonly NonNullable<PartitionRawResult['keys']>[],
): DenseKeyCodes | undefined {
  const range = denseRangeFor(pieces);
  return range && DenseKeyCodes.forRange(range.first, range.last);
}

/** The range {@link denseKeysFor} would cover, if any. */
function denseRangeFor(
  pieces: readonly NonNullable<PartitionRawResult['keys']>[],
): { first: number; last: number } | undefined {
  if (pieces.some((p) => !p.dense)) return undefined;
  const count = pieces.reduce((sum, p) => sum + p.count, 0);
  const sample = pieces.flatMap((p) => p.sample).sort((a, b) => a - b);
  if (sample.length === 0) return undefined;
  const first = sample[Math.floor(sample.length * DENSE_RANGE_TRIM)]!;
  const last = sample[Math.ceil(sample.length * (1 - DENSE_RANGE_TRIM)) - 1]!;
  if (last - first + 1 > DENSE_SLOTS_PER_KEY * count) return undefined;
  return { first, last };
}

/**
 * Writes a bucket's valid keys into the dense table (their dates' codes); returns the few it
 * cannot hold (a key outside the first pass's range, a date past the codes).
 */
function writeDenseKeys(
  table: KeyVersionTable<KeyVersion>,
  dense: DenseKeyCodes,
): KeyVersionTable<KeyVersion> {
  const rest = new KeyVersionTable<KeyVersion>();
  const codes = new Map<string | undefined, number | undefined>();
  table.forEach((key, version) => {
    let code = codes.get(version.date);
    if (!codes.has(version.date)) codes.set(version.date, (code = dateCode(version.date)));
    if (code === undefined || !dense.set(key, code)) rest.set(key, version);
  });
  return rest;
}

/**
 * Where validate's second pass finds a bucket's rows: the raw parts themselves when the entity is
 * one bucket validated by one thread, else the first pass's spill files (one per first-pass
 * piece, read in piece order: file order).
 */
export type BucketSource = { raw: string[] } | { spill: { dir: string; pieces: number } };

/**
 * validate's first pass over one entity, for one piece of its raw parts (consecutive parts, so
 * the pieces' spills read in piece order are in file order): each row goes to the bucket of its
 * key, parsed as validation parses it ("017" and "17" are one key), or of its text when it has
 * none. Every row that can be a duplicate of another, exact or by key, lands in the same bucket,
 * so each bucket drops and rejects duplicates on its own, in file order, as one pass over all rows
 * would.
 */
export interface PartitionRawTask {
  kind: 'validate-partition';
  run: RunManifest;
  config: StageConfig;
  entity: string;
  parts: string[];
  piece: number;
  spill: { dir: string; buckets: number };
  /** Sample the keys for a dense table (the entity is another's parent). */
  sampleKeys: boolean;
}

export interface PartitionRawResult {
  /** Rows this piece wrote per bucket. */
  rows: number[];
  /**
   * With sampleKeys, the piece's keys: whether every one is an integer a dense table holds
   * (isDenseKey), and if so their count (rows with a key, duplicates included) and an even sample.
   */
  keys?: { dense: boolean; count: number; sample: number[] };
}

/**
 * validate's second pass, the buckets one thread validates, one after another: the keys it holds
 * at once are one bucket's.
 */
export interface ValidateBucketsTask {
  kind: 'validate-buckets';
  run: RunManifest;
  config: StageConfig;
  entity: string;
  /** Names this piece's output parts. */
  piece: number;
  buckets: { bucket: number; rows: number }[];
  source: BucketSource;
  /** Keep the valid keys (the entity is another's parent). */
  keepKeys: boolean;
  /** With keepKeys: the dense table to write them to (the rest go to the bucket tables). */
  denseKeys?: DenseKeyCodesData;
  /** Per parent entity: its keys validated before, and this run's. */
  parents: Record<string, { earlier: KeyVersions; thisRun: ThisRunKeys }>;
  /** Keys of rows that earlier runs held: the result says which of them this batch has valid. */
  heldKeys?: KeyTableData;
}

export interface ValidateBucketsResult {
  counts: EntityCounts;
  touched: string[];
  written: Record<'validated' | 'held' | 'rejected', string[]>;
  /** With keepKeys: each bucket's valid keys and their versions, in the task's bucket order. */
  keys: FrozenKeys[];
  /** Of the task's heldKeys, those valid in this batch. */
  heldKeysValid: Key[];
}

/** A lookup over a parent's keys this run validated: its dense table, then its bucket tables. */
export function thisRunLookup(keys: ThisRunKeys): (key: Key) => KeyVersion | undefined {
  const tables = keys.buckets.map((data) => FrozenKeyVersions.from(data));
  const dense = keys.dense && denseLookup(keys.dense);
  const buckets = tables.length;
  return (key) =>
    dense?.(key) ?? (buckets > 0 ? tables[bucketOfKey(key, buckets)]!.get(key) : undefined);
}

/**
 * A lookup over a parent's keys: this run's, then the latest before. A key this run validated is
 * never looked up in the history, so the history need not hold it (runValidate's referencedKeys).
 */
function parentLookup(tables: {
  earlier: KeyVersions;
  thisRun: ThisRunKeys;
}): (key: Key) => KeyVersion | undefined {
  const thisRun = thisRunLookup(tables.thisRun);
  const earlier =
    'dense' in tables.earlier
      ? DenseKeyVersions.from(tables.earlier)
      : KeyVersionTable.from(tables.earlier);
  return (key) => thisRun(key) ?? earlier.get(key);
}

/** Versions of a dense table's keys, one object per date, as the bucket tables have them. */
function denseLookup(
  data: NonNullable<ThisRunKeys['dense']>,
): (key: Key) => KeyVersion | undefined {
  const codes = DenseKeyCodes.from(data);
  const versions = new Map<number, KeyVersion>();
  return (key) => {
    const code = codes.get(key);
    if (code === 0) return undefined;
    let version = versions.get(code);
    if (!version) {
      version = { date: dateOfCode(code), loadedAt: data.loadedAt, runId: data.runId };
      versions.set(code, version);
    }
    return version;
  };
}

/** A parsed value as validation stores it: enum text trimmed and lower-cased. */
function normalised(spec: EntitySpec['columns'][number], value: Value): Value {
  return spec.enum && typeof value === 'string' ? value.trim().toLowerCase() : value;
}

/** A raw text as validation parses it: undefined when empty or not parseable. */
function parsedRawValue(
  spec: EntitySpec['columns'][number],
  text: string | null | undefined,
  parseContext: { timeZone: string },
): Value | undefined {
  if (text === null || text === undefined || text.trim() === '') return undefined;
  const parsed = parseCell(spec, text, parseContext);
  return parsed instanceof ParseFailure ? undefined : normalised(spec, parsed);
}

/**
 * The entity's column specs as objects of one shape (every field present, in one order). Specs
 * written in a profile differ in which fields they set (enum, min, parse, derive), so the row loop
 * and parseCell read them through V8's slowest property lookups (megamorphic: 4-6% of validate's
 * time at 1M-5M rows).
 */
function uniformColumns(entity: EntitySpec): ColumnSpec[] {
  return entity.columns.map((c) => ({
    name: c.name,
    type: c.type,
    required: c.required ?? false,
    enum: c.enum,
    min: c.min,
    parse: c.parse,
    inHeader: c.inHeader,
    derive: c.derive,
  }));
}

/** The columns of raw/ validate reads, in spill order. */
function rawColumnNames(entity: EntitySpec): string[] {
  const rawNames = entity.columns.filter((c) => !c.derive).map((c) => c.name);
  return [...rawNames, '_source_file', '_source_row', '_problem'];
}

/**
 * The key a raw row will have if its key columns parse, else undefined: what places it in a
 * bucket. The same parse as validation's, so "017" and "17" land together.
 */
function rawKeyReader(
  entity: EntitySpec,
  timeZone: string,
): (raw: Columns, i: number) => Key | undefined {
  const specs = uniformColumns(entity);
  const names = specs.map((c) => c.name);
  const keyIndices = (entity.key ?? []).map((k) => names.indexOf(k));
  const keyOfValues = keyOfValuesFor(keyIndices);
  const parseContext = { timeZone };
  const keyValue = (raw: Columns, i: number, k: number): Value | undefined => {
    const spec = specs[k]!;
    return parsedRawValue(spec, raw[spec.name]?.[i] as string | null | undefined, parseContext);
  };
  // Values by column index, reused row after row (composite keys only).
  const values: Value[] = new Array<Value>(entity.columns.length).fill(null);
  return (raw, i) => {
    if (keyIndices.length === 0 || raw._problem![i]) return undefined;
    if (keyIndices.length === 1) return (keyValue(raw, i, keyIndices[0]!) ?? undefined) as Key;
    for (const k of keyIndices) {
      const value = keyValue(raw, i, k);
      if (value === undefined) return undefined;
      values[k] = value;
    }
    return keyOfValues(values);
  };
}

function keyOfValuesFor(keyIndices: readonly number[]): (values: Value[]) => Key | undefined {
  return (values) => {
    if (keyIndices.length === 0) return undefined;
    if (keyIndices.length === 1) return (values[keyIndices[0]!] ?? undefined) as Key | undefined;
    const parts = keyIndices.map((k) => values[k]);
    return parts.some((v) => v === null) ? undefined : parts.join('\u0001');
  };
}

/** Bucket of a row without a key: its fingerprint's, so exact copies meet. */
function bucketOfPrint(print: number, buckets: number): number {
  return Math.floor((print / 2 ** 53) * buckets);
}

/** validate's first pass for one piece of raw parts (see {@link PartitionRawTask}). */
export async function partitionRaw(
  store: ObjectStore,
  task: PartitionRawTask,
): Promise<PartitionRawResult> {
  const profile = getProfile(task.run.dataset);
  const entity = profile.entities.find((e) => e.name === task.entity)!;
  const names = rawColumnNames(entity);
  const rawTextCount = names.length - 3;
  const { dir, buckets } = task.spill;
  const writer = new SpillWriter(
    (bucket) => spillPath(dir, entity.name, bucket, task.piece),
    buckets,
    names.length,
    [names.indexOf('_source_file')],
  );
  const rawKey = rawKeyReader(entity, task.config.CARTPIPE_TIME_ZONE);
  let keysFitDense = task.sampleKeys;
  let keyCount = 0;
  const keySample = new KeySample();
  try {
    for (const part of task.parts) {
      const bytes = await store.get(part);
      for await (const raw of readParquet(bufferOf(bytes))) {
        const columns = names.map((n) => raw[n]!);
        const rawText = columns.slice(0, rawTextCount);
        const length = raw._source_row!.length;
        for (let i = 0; i < length; i++) {
          const key = rawKey(raw, i);
          if (key !== undefined && keysFitDense) {
            if (isDenseKey(key)) {
              keyCount += 1;
              keySample.add(key);
            } else keysFitDense = false;
          }
          const bucket =
            key !== undefined
              ? bucketOfKey(key, buckets)
              : bucketOfPrint(rowFingerprint(rawText, i), buckets);
          writer.append(bucket, columns, i);
        }
      }
      discardBytes(bytes);
    }
    return {
      rows: writer.finish(),
      ...(task.sampleKeys
        ? {
            keys: {
              dense: keysFitDense,
              count: keyCount,
              sample: keysFitDense ? keySample.keys : [],
            },
          }
        : {}),
    };
  } catch (error) {
    writer.close();
    throw error;
  }
}

/** validate's second pass: the buckets of one piece (see {@link ValidateBucketsTask}). */
export async function validateBuckets(
  store: ObjectStore,
  task: ValidateBucketsTask,
): Promise<ValidateBucketsResult> {
  const { run, config } = task;
  const profile = getProfile(run.dataset);
  const entity = profile.entities.find((e) => e.name === task.entity)!;
  const { RUN_ID: runId, CARTPIPE_TIME_ZONE: timeZone } = config;
  const loadedAt = Date.parse(run.createdAt);
  const parseContext = { timeZone };
  const counts = emptyCounts();
  const touched = new Set<string>();
  const capacity = Math.max(1024, ...task.buckets.map((b) => b.rows));
  // Every key the bucket has seen, tagged with its row's fingerprint (duplicates), with a
  // version once its row is valid. Cleared between buckets: its arrays serve them all.
  const mine = new KeyVersionTable<KeyVersion>({ tagged: true, capacity });
  const rowFingerprints = new KeyTable(entity.key ? 1024 : capacity);
  const parentOf = new Map(
    Object.entries(task.parents).map(([name, tables]) => [name, parentLookup(tables)]),
  );
  const heldKeys = task.heldKeys ? KeyTable.from(task.heldKeys) : undefined;
  const dense = task.denseKeys && DenseKeyCodes.from(task.denseKeys);
  const heldKeysValid: Key[] = [];
  const keys: FrozenKeys[] = [];
  // This run's keys share one version object per date instead of one each.
  const versions = new Map<string | undefined, KeyVersion>();
  const versionOn = (date: string | undefined): KeyVersion => {
    let version = versions.get(date);
    if (!version) versions.set(date, (version = { date, loadedAt, runId }));
    return version;
  };

  const options = {
    ...WRITER_OPTIONS,
    rowsPerPart: config.CARTPIPE_ROWS_PER_PART,
    file: task.piece,
  };
  const writers: Writers = {
    // A date partition each: rows wait on local disk until the piece ends (see SpilledPartWriter).
    validated: new SpilledPartWriter(store, validatedSchema(entity), {
      ...options,
      dictionaryColumns: ['_run_id', '_source_file'],
    }),
    held: new PartWriter(store, heldSchema(entity), options),
    rejected: new PartWriter(store, rejectedSchema(entity), options),
  };
  try {
    const specs = uniformColumns(entity);
    const names = specs.map((c) => c.name);
    const rawNames = rawColumnNames(entity);
    const rawTextNames = rawNames.slice(0, -3);
    const derived = specs.flatMap((c, i) => (c.derive ? [i] : []));
    // A row as its profile's derive and rule functions see it: copies of one object that has
    // every column, so all rows share one shape (Object.fromEntries made a new one per row,
    // twice for a profile with both: a fifth of online-retail's validate).
    const rowTemplate: Record<string, Value> = Object.fromEntries(names.map((n) => [n, null]));
    const rowObject = (values: readonly Value[]): Record<string, Value> => {
      const row = { ...rowTemplate };
      for (let c = 0; c < names.length; c++) row[names[c]!] = values[c] ?? null;
      return row;
    };
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
    const keyIndices = (entity.key ?? []).map((k) => names.indexOf(k));
    const keyOfValues = keyOfValuesFor(keyIndices);
    const dateColumnIndex = entity.dateColumn ? names.indexOf(entity.dateColumn) : -1;
    const parents = (entity.parents ?? []).map((p) => ({
      column: names.indexOf(p.column),
      reason: `missing_parent:${p.entity}`,
      find: parentOf.get(p.entity) ?? (() => undefined),
      givesDate: p.datesFromParent ?? false,
    }));
    /** The date the row's parent gave, set by {@link missingParents} (a lookup per parent). */
    let parentDate: string | undefined;
    const missingParents = (values: Value[]): string | undefined => {
      let missing: string | undefined;
      parentDate = undefined;
      for (const p of parents) {
        const v = values[p.column];
        const found = v === null ? undefined : p.find(v as Key);
        if (found === undefined)
          missing = missing === undefined ? p.reason : `${missing},${p.reason}`;
        else if (p.givesDate) parentDate ??= found.date;
      }
      return missing;
    };
    /** Date of a parsed row with its parents found: its own timestamp's, or its parent's. */
    const dateOf = (values: Value[]): string | undefined =>
      dateColumnIndex >= 0 ? dateInZone(values[dateColumnIndex] as number, timeZone) : parentDate;

    async function* rowsOf(bucket: number): AsyncGenerator<Columns> {
      const { source } = task;
      if ('raw' in source) {
        for (const part of source.raw) yield* readParquet(bufferOf(await store.get(part)));
        return;
      }
      for (let piece = 0; piece < source.spill.pieces; piece++) {
        yield* readSpill(spillPath(source.spill.dir, entity.name, bucket, piece), rawNames);
      }
    }

    for (const { bucket } of task.buckets) {
      mine.clear();
      rowFingerprints.clear();
      for await (const raw of rowsOf(bucket)) {
        const length = raw._source_row!.length;
        const rawText = rawTextNames.map((n) => raw[n]!);
        const rawColumns = rawNames.map((n) => raw[n]!);
        // Each column's raw texts by column index (none for a derived column).
        const texts = specs.map((spec) => (spec.derive ? [] : raw[spec.name]!));
        for (let i = 0; i < length; i++) {
          // Exact copies of a row already seen in this batch are dropped, whatever their validity.
          const print = rowFingerprint(rawText, i);
          counts.rowsIn += 1;
          const reasons: string[] = [];
          const problem = raw._problem![i] as string | null;
          if (problem) reasons.push(problem);
          // Sized for the lineage columns too: pushing them onto a row's array grew it, a copy.
          const values: Value[] = new Array(names.length + LINEAGE_COLUMNS.length);
          if (!problem) {
            for (let c = 0; c < names.length; c++) {
              const spec = specs[c]!;
              if (spec.derive) continue;
              const text = texts[c]![i] as string | null;
              if (text === null || text.trim() === '') {
                values[c] = null;
                if (spec.required) reasons.push(`missing_value:${spec.name}`);
                continue;
              }
              const parsed = parseCell(spec, text, parseContext);
              if (parsed instanceof ParseFailure) {
                reasons.push(`${parsed.reason}:${spec.name}`);
                values[c] = null;
                continue;
              }
              // The formula check sees the text as written, before an enum value is normalised.
              if (
                spec.type === 'string' &&
                typeof parsed === 'string' &&
                looksLikeFormula(parsed)
              ) {
                reasons.push(`formula_like:${spec.name}`);
              }
              const value = normalised(spec, parsed);
              if (spec.enum && typeof value === 'string' && !spec.enum.includes(value)) {
                reasons.push(`not_in_enum:${spec.name}`);
              }
              if (spec.min !== undefined && typeof value === 'number' && value < spec.min) {
                reasons.push(`below_minimum:${spec.name}`);
              }
              values[c] = value;
            }
            let row: Record<string, Value> | undefined;
            if (reasons.length === 0 && derived.length > 0) {
              row = rowObject(values);
              for (const c of derived) values[c] = specs[c]!.derive!(row);
              // The rules see the derived values; each derive saw none of them.
              for (const c of derived) row[names[c]!] = values[c]!;
            }
            if (reasons.length === 0 && entity.rules) {
              reasons.push(...entity.rules(row ?? rowObject(values)));
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
          const lineage = names.length;
          values[lineage] = runId;
          values[lineage + 1] = loadedAt;
          values[lineage + 2] = raw._source_file![i]!;
          values[lineage + 3] = raw._source_row![i]!;
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
          if (key !== undefined) {
            mine.setTagged(key, tag, versionOn(date));
            if (heldKeys?.has(key)) heldKeysValid.push(key);
          }
          writers.validated.appendRow(validPrefix(date), values);
        }
      }
      if (task.keepKeys)
        keys.push(FrozenKeyVersions.of(dense ? writeDenseKeys(mine, dense) : mine).data());
    }
    return {
      counts,
      touched: [...touched],
      written: {
        validated: await writers.validated.finish(),
        held: await writers.held.finish(),
        rejected: await writers.rejected.finish(),
      },
      keys,
      heldKeysValid,
    };
  } catch (error) {
    writers.validated.discard();
    writers.held.discard();
    writers.rejected.discard();
    throw error;
  }
}

/**
 * Raw bytes (Parquet, as upload wrote them) worth a thread of validate's own: ~1 s of work
 * (~100k rows of order_items). Below it a worker's start (~0.2-0.3 s of CPU: its isolate, the
 * stage's modules, on AWS an S3 client) and its heap cost more than it gives: a one-day batch at
 * 1M rows took 1.13 s and 152 MB on two threads, 1.0 s and 97 MB on one.
 */
export const VALIDATE_BYTES_PER_THREAD = 4 * 1024 * 1024;

/**
 * validate's threads: CARTPIPE_WORKERS when set to a number; when 0 (one per CPU), no more than
 * the batch's raw bytes are worth ({@link VALIDATE_BYTES_PER_THREAD}), so a daily batch of a
 * few thousand rows runs on one thread whatever the task's CPUs.
 */
export function validateThreads(
  setting: number | undefined,
  rawBytes: number,
  cpus: number,
): number {
  if (setting !== 0) return workerCount(setting);
  return Math.max(1, Math.min(cpus, Math.ceil(rawBytes / VALIDATE_BYTES_PER_THREAD)));
}

/**
 * A parent's earlier keys indexed before the keys this batch refers to are gathered to filter
 * them (loadKeyIndex's `filterAfter`). A history this small costs less unfiltered (a table of
 * ~17 MB at most) than gathering what a large batch refers to, a pass over its children's parent
 * column (20M order_items values). A daily batch on a long history still filters all but these
 * first keys.
 */
const PARENT_KEYS_UNFILTERED = 500_000;

/**
 * Parent keys a batch refers to that are gathered while reading its rows once: past them, the
 * rows are read a second time, for the keys outside the range of a dense index when they are ids
 * (a 20M-row batch's 6.67M orders), else for all of them.
 */
const REFERENCED_KEYS_GATHERED = 500_000;

export interface ValidateOptions {
  /** Earlier parent keys indexed before filtering ({@link PARENT_KEYS_UNFILTERED}). */
  parentKeysUnfiltered?: number;
  /** Referenced parent keys gathered in one read ({@link REFERENCED_KEYS_GATHERED}). */
  referencedKeysGathered?: number;
}

export async function runValidate(
  ctx: StageContext,
  run: RunManifest,
  options: ValidateOptions = {},
): Promise<ValidateResult> {
  const {
    parentKeysUnfiltered = PARENT_KEYS_UNFILTERED,
    referencedKeysGathered = REFERENCED_KEYS_GATHERED,
  } = options;
  const profile = getProfile(run.dataset);
  const { RUN_ID: runId, CARTPIPE_TIME_ZONE: timeZone } = ctx.config;
  const entities: Record<string, EntityCounts> = {};
  const touched = new Set<string>();
  const committed = new CommittedRuns(ctx.store);
  /** Keys validated by earlier runs, per entity (loaded when first needed). */
  const earlier = new Map<string, KeyIndex>();
  /** This run's valid keys of each parent entity. */
  const thisRun = new Map<string, ThisRunKeys>();
  const written = new Map<string, Record<'validated' | 'held' | 'rejected', string[]>>();
  const releaseWriters: PartWriter[] = [];
  // Pieces follow the thread count, and buckets the input's size: re-runs on the same task
  // size write the same bytes, as a cluster's output files follow its task count.
  // This run's raw parts of each entity, listed once: they size the threads, the buckets and the
  // parent keys a batch refers to.
  const rawParts = new Map(
    await Promise.all(
      profile.entities.map(
        async (e) =>
          [
            e.name,
            await listAll(ctx.store, layout.runOutputPrefix('raw', run.dataset, e.name, runId)),
          ] as const,
      ),
    ),
  );
  const batchRawBytes = [...rawParts.values()].flat().reduce((sum, o) => sum + o.size, 0);
  const threads = new StageThreads(
    ctx,
    validateThreads(ctx.config.CARTPIPE_WORKERS, batchRawBytes, workerCount(0)),
  );
  const pieces = threads.size;
  const bucketBytes = ctx.config.CARTPIPE_VALIDATE_BUCKET_BYTES ?? DEFAULT_VALIDATE_BUCKET_BYTES;
  const spillDir = mkdtempSync(join(tmpdir(), 'cartpipe-validate-'));
  const isParent = new Set(profile.entities.flatMap((e) => (e.parents ?? []).map((p) => p.entity)));

  /** When each earlier run was created (its rows' load time), from its manifest. */
  const createdAt = new Map<string, Promise<number | undefined>>();
  const runCreatedAt = (id: string) => {
    let answer = createdAt.get(id);
    if (!answer) {
      answer = getJson<RunManifest>(ctx.store, layout.runManifest(id)).then(
        (manifest) => Date.parse(manifest.createdAt),
        (error: unknown) => {
          if (error instanceof NotFoundError) return undefined;
          throw error;
        },
      );
      createdAt.set(id, answer);
    }
    return answer;
  };

  /** Rows held by earlier runs, per entity with parents (read once, dropped once released). */
  const pendingByEntity = new Map<string, Promise<Map<Key, HeldRow>>>();
  const pendingHeld = (entity: EntitySpec) => {
    let pending = pendingByEntity.get(entity.name);
    if (!pending) {
      pending = entity.parents?.length
        ? heldByEarlierRuns(entity)
        : Promise.resolve(new Map<Key, HeldRow>());
      pendingByEntity.set(entity.name, pending);
    }
    return pending;
  };
  /**
   * The keys of `parent` this batch can look up in its history: its children's values of the
   * parent column in this run's raw rows (parsed as validation parses them) and in the rows
   * earlier runs hold, less the keys this run validated (found there first: parentLookup). A
   * re-sent batch refers to its own parents: at 20M order_items rows, 6.67M order keys that the
   * history's index and this set held twice over for nothing. Undefined (every key) when a child
   * derives that column rather than reading it.
   */
  const referencedKeys = async (parent: EntitySpec): Promise<WantedKeySet | undefined> => {
    const validatedNow = thisRun.has(parent.name)
      ? thisRunLookup(thisRun.get(parent.name)!)
      : () => undefined;
    const links = profile.entities.flatMap((child) =>
      (child.parents ?? [])
        .filter((link) => link.entity === parent.name)
        .map((link) => ({ child, link, spec: child.columns.find((c) => c.name === link.column)! })),
    );
    if (links.some(({ spec }) => spec.derive)) return undefined;
    const parseContext = { timeZone };
    /** Visits every value wanted (not this run's), until `visit` returns false. */
    const eachWanted = async (visit: (key: Key) => boolean | void): Promise<void> => {
      const wanted = (value: Value | undefined) =>
        value === undefined || value === null || validatedNow(value as Key) !== undefined
          ? true
          : visit(value as Key) !== false;
      for (const { child, link, spec } of links) {
        // Of a large raw part, only that column's chunks are fetched (fetchPartColumns).
        const columns = [link.column];
        const fetchPart = (part: ObjectInfo) => fetchPartColumns(ctx.store, part, columns);
        for await (const { fetched } of fetchInOrder(rawParts.get(child.name)!, fetchPart)) {
          for await (const cols of readFetchedPart(fetched, { columns })) {
            for (const text of cols[link.column]!)
              if (!wanted(parsedRawValue(spec, text as string | null, parseContext))) return;
          }
        }
        const column = child.columns.findIndex((c) => c.name === link.column);
        for (const row of (await pendingHeld(child)).values())
          if (!wanted(row.values[column])) return;
      }
    };
    // First pass: the keys themselves while they are few (a daily batch's: one read of its raw
    // rows), and whether they are integer ids filling a range (an even sample of them).
    let values = 0;
    let dense = true;
    const sample = new KeySample();
    let gathered: KeySet | undefined = new KeySet();
    await eachWanted((key) => {
      values += 1;
      if (gathered?.add(key) && gathered.size > referencedKeysGathered) gathered = undefined;
      if (dense && isDenseKey(key)) sample.add(key);
      else dense = false;
      return dense || gathered !== undefined;
    });
    const few = gathered;
    if (few) {
      ctx.log.debug('parent keys wanted from the history', {
        entity: parent.name,
        values,
        keys: few.size,
      });
      return { has: (key) => few.has(key), size: few.size };
    }
    const range = dense
      ? denseRangeFor([{ dense, count: values, sample: sample.keys }])
      : undefined;
    const inRange = (key: Key) =>
      range !== undefined && isDenseKey(key) && key >= range.first && key <= range.last;
    // Second pass: the keys, or with a range only those outside it. An index dense over the
    // range holds every earlier key in it, 2 bytes each however few are wanted, so the set of
    // millions of ids a large batch refers to is not built for it: the main thread, idle while
    // its workers validate, never collected it (134 MB of a 20M-row batch's peak).
    const outside = new KeySet();
    await eachWanted((key) => {
      if (!inRange(key)) outside.add(key);
    });
    ctx.log.debug('parent keys wanted from the history', {
      entity: parent.name,
      values: dense ? values : undefined,
      range,
      keys: outside.size,
    });
    return range
      ? { has: (key) => inRange(key) || outside.has(key), size: values, range }
      : { has: (key) => outside.has(key), size: outside.size };
  };
  /** An entity's keys validated by earlier committed runs ({@link loadKeyIndex}). */
  const earlierKeys = (
    entity: EntitySpec,
    key: readonly string[],
    only: WantedKeys,
    options?: KeyIndexOptions,
  ) => loadKeyIndex(ctx.store, run.dataset, entity.name, key, runId, committed, only, options);
  /**
   * A parent's keys validated by earlier runs: only those this batch refers to (the history
   * grows with every batch; a day's batch refers to a day's worth of it).
   */
  const earlierIndex = async (entity: EntitySpec) => {
    let index = earlier.get(entity.name);
    if (!index) {
      index = entity.key
        ? await earlierKeys(entity, entity.key, () => referencedKeys(entity), {
            filterAfter: parentKeysUnfiltered,
          })
        : new KeyVersionTable<KeyVersion>({ shared: true });
      earlier.set(entity.name, index);
    }
    return index;
  };
  const parentTables = async (entity: EntitySpec) => {
    const parents: ValidateBucketsTask['parents'] = {};
    for (const p of entity.parents ?? []) {
      const parent = profile.entities.find((e) => e.name === p.entity)!;
      parents[p.entity] = {
        earlier: (await earlierIndex(parent)).data(),
        thisRun: thisRun.get(p.entity) ?? { buckets: [] },
      };
    }
    return parents;
  };

  try {
    for (const entity of entitiesInOrder(profile)) {
      const parents = await parentTables(entity);
      const pending = await pendingHeld(entity);
      pendingByEntity.delete(entity.name);
      // Which held keys this batch validates anew: asked of the threads, which see every key.
      let heldKeys: KeyTable | undefined;
      if (entity.key && pending.size > 0) {
        heldKeys = new KeyTable(pending.size, true);
        for (const id of pending.keys()) heldKeys.set(id, 1);
      }
      const raw = rawParts.get(entity.name)!;
      const rawBytes = raw.reduce((sum, o) => sum + o.size, 0);
      // As many buckets as the batch needs to keep each one's keys small, a multiple of the
      // pieces so that each thread gets as many.
      const wanted = Math.max(1, Math.ceil(rawBytes / bucketBytes));
      const buckets = Math.ceil(wanted / pieces) * pieces;
      let source: BucketSource;
      let rowsPerBucket: number[];
      let denseKeys: DenseKeyCodes | undefined;
      if (buckets === 1) {
        source = { raw: raw.map((o) => o.key) };
        rowsPerBucket = [0];
      } else {
        const partitions = await threads.map(splitInOrder(raw, pieces), (parts, piece, lane) => {
          const task: PartitionRawTask = {
            kind: 'validate-partition',
            run,
            config: ctx.config,
            entity: entity.name,
            parts,
            piece,
            spill: { dir: spillDir, buckets },
            sampleKeys: isParent.has(entity.name),
          };
          return lane.run(task, (store) => partitionRaw(store, task));
        });
        source = { spill: { dir: spillDir, pieces: partitions.length } };
        rowsPerBucket = Array.from({ length: buckets }, (_, b) =>
          partitions.reduce((sum, p) => sum + p.rows[b]!, 0),
        );
        if (isParent.has(entity.name)) denseKeys = denseKeysFor(partitions.map((p) => p.keys!));
      }
      // Bucket b is validated by piece b % pieces: results come back in piece order.
      const assigned = Array.from({ length: Math.min(pieces, buckets) }, (_, piece) =>
        rowsPerBucket.flatMap((rows, bucket) =>
          bucket % pieces === piece ? [{ bucket, rows }] : [],
        ),
      );
      const results = await threads.map(assigned, (mine, piece, lane) => {
        const task: ValidateBucketsTask = {
          kind: 'validate-buckets',
          run,
          config: ctx.config,
          entity: entity.name,
          piece,
          buckets: mine,
          source,
          keepKeys: isParent.has(entity.name),
          ...(denseKeys ? { denseKeys: denseKeys.data() } : {}),
          parents,
          ...(heldKeys ? { heldKeys: heldKeys.data() } : {}),
        };
        return lane.run(task, (store) => validateBuckets(store, task));
      });
      removeSpills(spillDir, entity.name);
      const counts = (entities[entity.name] = emptyCounts());
      const areas: Record<'validated' | 'held' | 'rejected', string[]> = {
        validated: [],
        held: [],
        rejected: [],
      };
      const keys = new Array<FrozenKeys>(buckets);
      const heldKeysValid = new Set<Key>();
      results.forEach((result, piece) => {
        addCounts(counts, result.counts);
        for (const date of result.touched) touched.add(date);
        for (const area of ['validated', 'held', 'rejected'] as const)
          areas[area].push(...result.written[area]);
        result.keys.forEach((table, i) => (keys[assigned[piece]![i]!.bucket] = table));
        for (const key of result.heldKeysValid) heldKeysValid.add(key);
      });
      if (isParent.has(entity.name)) {
        thisRun.set(entity.name, {
          buckets: keys,
          ...(denseKeys
            ? { dense: { ...denseKeys.data(), loadedAt: Date.parse(run.createdAt), runId } }
            : {}),
        });
      }
      written.set(entity.name, areas);
      if (entity.parents?.length) {
        // Released rows go to parts of their own, numbered after the pieces'.
        const release = new PartWriter(ctx.store, validatedSchema(entity), {
          rowsPerPart: ctx.config.CARTPIPE_ROWS_PER_PART,
          file: pieces,
        });
        releaseWriters.push(release);
        await releaseHeld(entity, parents, pending, heldKeysValid, counts, release);
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
    rmSync(spillDir, { recursive: true, force: true });
  }

  /**
   * Rows held by committed earlier runs, the latest version of each key (rows without a key by
   * a negative number of their own), waiting for their parents.
   */
  async function heldByEarlierRuns(entity: EntitySpec): Promise<Map<Key, HeldRow>> {
    const names = entity.columns.map((c) => c.name);
    const pending = new Map<Key, HeldRow>();
    let anonymous = 0;
    const parts: ObjectInfo[] = [];
    for await (const object of ctx.store.list(
      layout.entityPrefix('held', run.dataset, entity.name),
    )) {
      const heldBy = parseOutputKey(object.key).runId;
      if (!heldBy || heldBy === runId || !object.key.endsWith('.parquet')) continue;
      if (await committed.isCommitted(heldBy)) parts.push(object);
    }
    for await (const { fetched: bytes } of getInOrder(ctx.store, parts)) {
      for await (const cols of readParquet(bufferOf(bytes))) {
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
    return pending;
  }

  /**
   * Which earlier runs may hold a version of a held key loaded at or after the held row (what
   * releasing looks for): a run's rows are loaded at its creation or, released copies, earlier,
   * and the holding run itself has no valid row of a key it holds (a batch holds a key or
   * validates it). So a run created before every other holding run's rows were loaded holds none:
   * a daily batch releasing the rows its history held reads the parts of the runs since, not
   * the entity's whole history (the first batch's 730 items parts at 20M rows: 20M keys).
   */
  function mayHoldNewerVersion(pending: Map<Key, HeldRow>): (id: string) => Promise<boolean> {
    const heldSince = new Map<string, number>();
    for (const { version } of pending.values()) {
      const since = heldSince.get(version.runId);
      if (since === undefined || version.loadedAt < since)
        heldSince.set(version.runId, version.loadedAt);
    }
    return async (id) => {
      const created = await runCreatedAt(id);
      if (created === undefined || Number.isNaN(created)) return true;
      for (const [holder, since] of heldSince) if (holder !== id && created >= since) return true;
      return false;
    };
  }

  /**
   * Releases the held rows whose parents are now known into this run's output, unless this
   * batch carries a valid row of the same key (`validNow`) or one was validated since.
   */
  async function releaseHeld(
    entity: EntitySpec,
    parents: ValidateBucketsTask['parents'],
    pending: Map<Key, HeldRow>,
    validNow: Set<Key>,
    counts: EntityCounts,
    writer: PartWriter,
  ): Promise<void> {
    if (pending.size === 0) return;
    const names = entity.columns.map((c) => c.name);
    // Only the held keys' versions are looked up: a table of the pending keys, not of the
    // entity's history (which grows with every batch: 1M order_items keys for a few held rows at
    // 1M rows). Not a parent's index of the entity: that holds the keys its children refer to.
    const known = entity.key
      ? await earlierKeys(entity, entity.key, () => Promise.resolve(pending), {
          runs: mayHoldNewerVersion(pending),
        })
      : new KeyVersionTable<KeyVersion>();
    const lookups = new Map(
      Object.entries(parents).map(([name, tables]) => [name, parentLookup(tables)]),
    );
    const findParent = (entityName: string, key: Key) => lookups.get(entityName)?.(key);
    const validPrefix = (date: string | undefined) =>
      layout.runOutputPrefix('validated', run.dataset, entity.name, runId, date);
    const dateParent = entity.parents?.find((p) => p.datesFromParent);
    for (const [id, row] of pending) {
      if (entity.key) {
        const validated = known.get(id);
        // A released copy is stored under the releasing run's id with the holding run's load
        // time, so "newer" (which breaks ties by run id) cannot tell it from the held row: any
        // version loaded at or after the held one means it was released or replaced already.
        if (validated && validated.loadedAt >= row.version.loadedAt) continue;
        if (validNow.has(id)) continue; // this batch carries a newer version
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

interface HeldRow {
  values: Value[];
  version: { loadedAt: number; runId: string };
  lineage: Value[];
}

/**
 * `items` in at most `pieces` runs of consecutive items of about equal bytes: an item goes to the
 * piece its middle byte falls in. (By its first byte, the piece that began last took an item
 * reaching far into the next piece's share: 5M rows' orders split 51 / 27 MB, and the other thread
 * waited 0.7 s, a sixth of the partitioning.)
 */
export function splitInOrder(items: readonly ObjectInfo[], pieces: number): string[][] {
  const total = items.reduce((sum, o) => sum + o.size, 0);
  const out: string[][] = [];
  let seen = 0;
  for (const item of items) {
    const middle = seen + item.size / 2;
    const piece = Math.min(pieces - 1, Math.floor((middle / Math.max(1, total)) * pieces));
    while (out.length <= piece) out.push([]);
    out[piece]!.push(item.key);
    seen += item.size;
  }
  return out.filter((p) => p.length > 0);
}

/** Deletes an entity's spill files once its buckets are validated. */
function removeSpills(dir: string, entity: string): void {
  for (const name of readdirSync(dir)) {
    if (name.startsWith(`${entity}.bucket-`)) rmSync(join(dir, name), { force: true });
  }
}
