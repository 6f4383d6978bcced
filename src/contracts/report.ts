/**
 * Stage reports (runs/<run_id>/<stage>.json): what a stage read, wrote, rejected and why.
 * Notifications, `cartpipe status` and the tests read these, never the logs.
 */
import type { Stage } from './layout.js';

export interface EntityCounts {
  /** Rows read from the input (upload) or from raw/ (validate). */
  rowsIn: number;
  valid: number;
  rejected: number;
  /** Exact copies of a row already seen in this batch: counted and dropped. */
  duplicatesDropped: number;
  /** Rows whose parent (order, product) has not arrived yet. */
  held: number;
  /** Rows held by earlier runs that this run released to validated/. */
  released: number;
  /** Rejected rows per reason code. */
  rejectsByReason: Record<string, number>;
}

export interface FileReport {
  key: string;
  entity: string;
  format: string;
  rows: number;
  bytes: number;
  outputs: string[];
}

export interface StageReport {
  stage: Stage;
  runId: string;
  dataset: string;
  batch: string;
  status: 'SUCCEEDED' | 'FAILED';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  files?: FileReport[];
  entities?: Record<string, EntityCounts>;
  /** compute-kpi: dates whose KPIs were recomputed. */
  datesTouched?: string[];
  kpiRows?: Record<string, number>;
  /** compute-kpi: items each profile sink wrote (e.g. online-retail's purchase history). */
  sinkItems?: Record<string, number>;
  outputs: string[];
  error?: { code: string; message: string; file?: string; line?: number };
}

export function emptyCounts(): EntityCounts {
  return {
    rowsIn: 0,
    valid: 0,
    rejected: 0,
    duplicatesDropped: 0,
    held: 0,
    released: 0,
    rejectsByReason: {},
  };
}

/** Adds `more` into `into` (counts of one entity from several threads). */
export function addCounts(into: EntityCounts, more: EntityCounts): void {
  into.rowsIn += more.rowsIn;
  into.valid += more.valid;
  into.rejected += more.rejected;
  into.duplicatesDropped += more.duplicatesDropped;
  into.held += more.held;
  into.released += more.released;
  for (const [reason, n] of Object.entries(more.rejectsByReason))
    into.rejectsByReason[reason] = (into.rejectsByReason[reason] ?? 0) + n;
}
