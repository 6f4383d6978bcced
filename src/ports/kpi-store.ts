/** The KPI store port: whole KPI rows per (dataset, kpi, date), replaced as a unit. */
import type { Value } from '../formats/parquet.js';

export type KpiRow = Record<string, Value>;

export interface KpiRowSet {
  dataset: string;
  kpi: string;
  date: string;
  /** Columns that, with the date, identify a row (e.g. ['category']); [] for one row per date. */
  groupBy: readonly string[];
  rows: KpiRow[];
}

export interface KpiStore {
  /** Makes the stored rows of (dataset, kpi, date) exactly `rows`: puts them, deletes the rest. */
  replaceDate(set: KpiRowSet): Promise<void>;
  /** Every stored row of a KPI, ordered by date then group. */
  list(dataset: string, kpi: string): Promise<KpiRow[]>;
}
