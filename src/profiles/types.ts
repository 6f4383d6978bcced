/**
 * What a data-set profile declares: its entities (files, columns, types, keys, the timestamp
 * that dates a row, parents), its validation rules and its KPIs. The stages are generic over
 * this interface: adding a profile never touches a job.
 */
import type { ColumnDef, ColumnType, Columns, Value } from '../formats/parquet.js';
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

export interface KpiSpec {
  name: string;
  description: string;
  /** The column holding the row's date (e.g. order_date). */
  dateColumn: string;
  /** Columns identifying a row within a date (e.g. ['category']). */
  groupBy: readonly string[];
  columns: readonly ColumnDef[];
}

/** What compute-kpi gives a profile: the latest version of every validated row. */
export interface KpiInput {
  readonly timeZone: string;
  readonly options: Readonly<Record<string, unknown>>;
  /** Rows of a dated entity on `date`, or all rows of an undated entity; latest version per key. */
  rows(entity: string, date?: string): Promise<Columns>;
}

export interface Profile {
  name: string;
  description: string;
  entities: readonly EntitySpec[];
  kpis: readonly KpiSpec[];
  /** KPI rows of one date, by KPI name. */
  computeKpis(input: KpiInput, date: string): Promise<Record<string, KpiRow[]>>;
}
