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
  /**
   * Runs `work` holding the lease of (dataset, date), so two runs never recompute one date at the
   * same time: the later one waits and then reads everything the earlier one saw, and more.
   * A lease outlives a crashed holder by at most `ttlMs`; the same owner may take it again.
   */
  withDateLease<T>(
    dataset: string,
    date: string,
    owner: string,
    work: () => Promise<T>,
  ): Promise<T>;
  /** Every stored row of a KPI, ordered by date then group. */
  list(dataset: string, kpi: string): Promise<KpiRow[]>;
}
