/** What every stage core receives: ports, config and a logger. Built by the job entry point. */
import type { JobConfig } from '../config.js';
import type { RunManifest } from '../contracts/manifest.js';
import { layout } from '../contracts/layout.js';
import type { Logger } from '../log.js';
import type { HistoryStore } from '../ports/history-store.js';
import type { KpiStore } from '../ports/kpi-store.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';

export type StageConfig = Pick<
  JobConfig,
  | 'RUN_ID'
  | 'CARTPIPE_TIME_ZONE'
  | 'CARTPIPE_REJECT_THRESHOLD'
  | 'CARTPIPE_ROWS_PER_PART'
  | 'CARTPIPE_MAX_FILE_BYTES'
> &
  // Optional: readers fall back to the config's defaults (DEFAULT_MAX_FIELD_LENGTH, ...).
  Partial<
    Pick<
      JobConfig,
      | 'CARTPIPE_AGGREGATIONS_FILE'
      | 'CARTPIPE_MAX_FIELD_CHARS'
      | 'CARTPIPE_MAX_ROW_CHARS'
      // Unset: the stage's pieces run in its own thread.
      | 'CARTPIPE_WORKERS'
      | 'CARTPIPE_VALIDATE_BUCKET_BYTES'
    >
  >;

export interface StageContext {
  store: ObjectStore;
  kpis: KpiStore;
  /** Purchase histories: profile sinks write it (online-retail); absent where none is needed. */
  history?: HistoryStore;
  config: StageConfig;
  log: Logger;
  /**
   * Aborted when the job must stop before finishing (SIGTERM, its time limit), with a
   * StageStoppedError as the reason: the stage then reports FAILED with it and leaves.
   */
  signal?: AbortSignal;
}

export function readRunManifest(store: ObjectStore, runId: string): Promise<RunManifest> {
  return getJson<RunManifest>(store, layout.runManifest(runId));
}

/** Columns every stage adds to the rows it writes, after the entity's own; never null. */
export const LINEAGE_COLUMNS = [
  { name: '_run_id', type: 'string', required: true },
  { name: '_loaded_at', type: 'timestamp', required: true },
  { name: '_source_file', type: 'string', required: true },
  { name: '_source_row', type: 'int', required: true },
] as const;
