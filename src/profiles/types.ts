/**
 * What a data-set profile declares: its entities (files, columns, types, keys, the timestamp
 * that dates a row, parents), its validation rules and its KPIs. The stages are generic over
 * this interface: adding a profile never touches a job.
 */
import type { ColumnDef, ColumnType, Columns, Value } from '../formats/parquet.js';
import type { HistoryStore } from '../ports/history-store.js';
import type { KpiRow } from '../ports/kpi-store.js';

export interface ParseContext {
  timeZone: string;
}

/** Result of parsing one text value: the typed value, or the reason code of the failure. */
export type Parsed = { ok: true; value: Value } | { ok: false; reason: string };

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** An absent value rejects the row (`missing_value`). */
  required?: boolean;
  /** Allowed values, compared case-insensitively; stored lower-cased. */
  enum?: readonly string[];
  /** Smallest allowed number (`below_minimum`). */
  min?: number;
  /** Custom parser from text (e.g. "M/D/YYYY H:MM"); default by `type`. */
  parse?: (text: string, context: ParseContext) => Parsed;
  /** Must the input header have this column? Default true. */
  inHeader?: boolean;
  /**
   * A column computed from the row's parsed values instead of read from the input (e.g.
   * online-retail's flags). Derived columns are not in raw/ and are computed after the row's
   * other values parse, before `rules`.
   */
  derive?: (row: Readonly<Record<string, Value>>) => Value;
}

export interface ParentRef {
  /** Column of this entity holding the parent's key. */
  column: string;
  entity: string;
  /** Rows take their date from this parent (thelook: an item counts on its order's date). */
  datesFromParent?: boolean;
}

export interface EntitySpec {
  name: string;
  /** Matches the file's base name (without compression suffix). */
  file: RegExp;
  columns: readonly ColumnSpec[];
  /** Source header name -> column name, for sources whose names differ from ours. */
  renames?: Readonly<Record<string, string>>;
  /** Key columns: a later batch with the same key replaces the row; duplicates in one batch are rejected. */
  key?: readonly string[];
  /** Column whose timestamp dates the row (validated/ partition), unless a parent gives the date. */
  dateColumn?: string;
  parents?: readonly ParentRef[];
  /** Extra row-level rules: reason codes for a parsed row (empty = valid). */
  rules?: (row: Readonly<Record<string, Value>>) => string[];
}

/**
 * The span of time one stored KPI date covers. A `day` KPI stores its rows under that day; a
 * `week` one under the week's Monday (ISO weeks), a `month` one under its first day, a `year` one
 * under 1 January. compute-kpi recomputes every period a run touched from all its validated data.
 */
export type KpiPeriod = 'day' | 'week' | 'month' | 'year';
export const KPI_PERIODS: readonly KpiPeriod[] = ['day', 'week', 'month', 'year'];

export interface KpiSpec {
  name: string;
  description: string;
  /** The column holding the row's date: the period's first day (e.g. order_date, month_start). */
  dateColumn: string;
  /** Columns identifying a row within a date (e.g. ['category']). */
  groupBy: readonly string[];
  columns: readonly ColumnDef[];
  /** Period of one stored date; default `day`. */
  period?: KpiPeriod;
  /** Zone whose wall clock delimits the periods; default the pipeline's (CARTPIPE_TIME_ZONE). */
  timeZone?: string;
}

/**
 * One recomputation compute-kpi asks of a profile: the rows of `kpis` stored under `date`, the
 * first day of a period in a zone. `start`..`end` are the instants the period covers and `dates`
 * the validated date partitions (pipeline zone) that hold its rows; rows of the first and last
 * of them may fall outside the period when the zones differ, so a profile filters on its
 * timestamps when `timeZone` is not the pipeline's.
 */
export interface KpiWindow {
  date: string;
  period: KpiPeriod;
  timeZone: string;
  /** Epoch ms, inclusive. */
  start: number;
  /** Epoch ms, exclusive. */
  end: number;
  dates: readonly string[];
  kpis: readonly KpiSpec[];
}

/** What compute-kpi gives a profile: the latest version of every validated row. */
export interface KpiInput {
  /** The pipeline's zone (CARTPIPE_TIME_ZONE): validated date partitions are its dates. */
  readonly timeZone: string;
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * Rows of a dated entity on `dates` (one date or several), or all rows of an undated entity;
   * latest version per key. Lineage columns come along (_run_id, _loaded_at, _source_file,
   * _source_row), so a profile can order rows the way they arrived. With `columns`, only those
   * are decoded and returned (Parquet is columnar: the others are never read).
   */
  rows(
    entity: string,
    dates?: string | readonly string[],
    columns?: readonly string[],
  ): Promise<Columns>;
  /**
   * The same rows as {@link KpiInput.rows}, a few thousand at a time (a Parquet page of the
   * pipeline's parts) and in no set order: for KPIs that fold rows into totals, so a period holds
   * a batch of rows, not the period's.
   */
  batches(
    entity: string,
    dates?: string | readonly string[],
    columns?: readonly string[],
  ): AsyncIterable<Columns>;
}

/** Settings from the environment that profiles may need (built by {@link profileSettings}). */
export interface ProfileSettings {
  /** clickstream: the aggregation spec file (CARTPIPE_AGGREGATIONS_FILE); unset: the default. */
  aggregationsFile?: string;
}

/** The ports a profile's side outputs may write to (built by the job from its config). */
export interface SinkPorts {
  history?: HistoryStore;
}

/**
 * A side output of compute-kpi besides the KPI tables (online-retail's purchase history). It is
 * called once per date the run touched, with that date's validated rows, and must replace what
 * an earlier call for the date wrote, so re-runs stay idempotent.
 * @returns the number of items written.
 */
export interface ProfileSink {
  name: string;
  writeDate(input: KpiInput, date: string, ports: SinkPorts): Promise<number>;
}

export interface Profile {
  name: string;
  description: string;
  entities: readonly EntitySpec[];
  /** The KPIs with the default configuration: what the Glue catalog and `cartpipe kpis` know. */
  kpis: readonly KpiSpec[];
  /**
   * The KPIs of one run when they depend on configuration and the manifest's options
   * (clickstream's aggregations); without it, `kpis`. Throws ManifestError `options_invalid`.
   */
  kpisFor?(
    options: Readonly<Record<string, unknown>>,
    settings: ProfileSettings,
  ): readonly KpiSpec[];
  /**
   * KPI rows of one window (by KPI name) for the KPIs in `window.kpis`. Day KPIs in the pipeline
   * zone (thelook's) need only `date`: the window is that day.
   */
  computeKpis(input: KpiInput, date: string, window: KpiWindow): Promise<Record<string, KpiRow[]>>;
  sinks?: readonly ProfileSink[];
}
