/**
 * One KPI window of compute-kpi (a period of a KPI, or of KPIs sharing it): its rows read from the
 * validated data, computed by the run's profile and written to kpis/. It runs on any thread,
 * the stage's own or a worker's (../workers/stage-worker.ts), so this module imports what a
 * window needs and no more: the profile alone (loadProfile), not the registry of them all, and
 * not the thread pool.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { layout } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import { encodeParquet, type ColumnDef, type Columns, type Value } from '../formats/parquet.js';
import { loadProfile } from '../profiles/load-profile.js';
import { profileSettings, runKpis } from '../profiles/settings.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { KpiRow } from '../ports/kpi-store.js';
import type { KpiInput, KpiWindow, Profile } from '../profiles/types.js';
import { CommittedRuns } from './committed-runs.js';
import type { StageConfig } from './context.js';
import { PrefetchBudget } from './prefetch-budget.js';
import { UndatedRowsCache, ValidatedReader } from './validated-reader.js';

/** Work compute-kpi hands a worker thread: the KPI rows of one window (KPIs named, not sent). */
export interface KpiWindowTask {
  kind: 'kpi-window';
  run: RunManifest;
  config: StageConfig;
  window: Omit<KpiWindow, 'kpis'> & { kpis: string[] };
}

export interface KpiWindowRows {
  byKpi: Record<string, KpiRow[]>;
  partsRead: number;
  /**
   * How long the window held its thread's turn at folding, and how much of it the thread sat idle
   * (its event loop with nothing to run): the fold waiting for the store. Absent when the
   * profile read nothing.
   */
  turn?: TurnTime;
  /** kpis/ objects written (a KPI with no rows for the window has its object deleted). */
  written: string[];
}

/**
 * Undated rows (the product catalogue) decoded by this thread, reused by every window and run
 * whose committed parts are the same ones (UndatedRowsCache compares them).
 */
const threadUndatedRows = new UndatedRowsCache();

/**
 * Runs a worker thread has seen committed. A worker thread lives for one stage run (StageThreads
 * starts and ends its pool), so this is that run's; periods computed on the caller's thread get
 * a set of the stage run's own instead.
 */
const threadCommittedRuns = new Set<string>();

/**
 * Turns at folding rows, one window at a time per thread. A thread has several windows in flight
 * so that their reads overlap, but folding them at once interleaves their totals' hash tables in
 * the cache and keeps every window's batches and tables alive together: at 20M rows (~2 MB of
 * tables a day) three windows folding at once per thread took ~30% more CPU and ~25 MB more
 * memory than one. So a window's reads start as soon as the profile asks for them, and the rows
 * are handed over when the window has the thread's turn, which it keeps until its KPIs are made.
 */
export class FoldTurns {
  private last: Promise<void> = Promise.resolve();

  /** A window's turn: `ready` asks for it (later calls wait for the same), `done` gives it up. */
  turn(): FoldTurn {
    let asked: Promise<void> | undefined;
    let granted: EventLoopUtilization | undefined;
    let time: TurnTime | undefined;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    return {
      ready: () => {
        if (!asked) {
          asked = this.last.then(() => {
            granted = performance.eventLoopUtilization();
          });
          this.last = asked.then(() => released);
        }
        return asked;
      },
      done: () => {
        if (granted && !time) {
          const { idle, active } = performance.eventLoopUtilization(granted);
          time = { heldMs: idle + active, idleMs: idle };
        }
        release();
      },
      time: () => time,
    };
  }
}

/** A fold turn's length and the time its thread was idle in it, in ms. */
export interface TurnTime {
  heldMs: number;
  idleMs: number;
}

export interface FoldTurn {
  ready(): Promise<void>;
  done(): void;
  /** Once done: how long the turn was held and its thread idle (undefined if never granted). */
  time(): TurnTime | undefined;
}

const threadFoldTurns = new FoldTurns();

/**
 * Bytes of parts (their objects' sizes) the periods waiting for this thread's turn may have
 * fetched. With three periods in flight a thread, each fetching its day whole, a thread held up
 * to three days of parts ahead: at 20M rows ~10 MB, at 1M a twentieth of it. 4 MB keeps S3's
 * round trips hidden (20M rows with 20 ms a store call: 9.5-10.1 s against 9.6-10.4 s without a
 * limit; 2 MB: 11.6 s); with parts freed once read (discardFetchedPart), 20M rows on two threads
 * peak at 118-120 MB against 134-135.
 */
const PREFETCH_BYTES_PER_THREAD = 4 * 1024 * 1024;

const threadPrefetch = new PrefetchBudget(PREFETCH_BYTES_PER_THREAD);

async function* afterTurn<T>(source: AsyncIterable<T>, turn: FoldTurn): AsyncGenerator<T> {
  await turn.ready();
  yield* source;
}

/**
 * What a profile reads for one window or sink date: a fresh reader over the validated/ runs
 * committed by now (a fresh CommittedRuns, so a run that committed while an earlier window was
 * computed is seen; runs known committed are not asked again), sharing this thread's undated
 * rows. With a `turn`, rows reach the profile only once the window has it (see FoldTurns).
 */
export function freshInput(
  store: ObjectStore,
  profile: Profile,
  timeZone: string,
  options: RunManifest['options'],
  committedRuns: Set<string>,
  turn?: FoldTurn,
): { reader: ValidatedReader; input: KpiInput } {
  const reader = new ValidatedReader(
    store,
    profile,
    new CommittedRuns(store, committedRuns),
    threadUndatedRows,
    turn ? { admit: threadPrefetch.admitter(turn.ready()) } : {},
  );
  return {
    reader,
    input: {
      timeZone,
      options,
      rows: (entity, d, columns) => {
        const rows = reader.rows(entity, d, columns);
        return turn ? rows.then(async (r) => (await turn.ready(), r)) : rows;
      },
      batches: (entity, d, columns) => {
        const batches = reader.batches(entity, d, columns);
        return turn ? afterTurn(batches, turn) : batches;
      },
    },
  };
}

/** The KPI rows of one window (see {@link freshInput} for what it reads). */
export async function computeKpiWindow(
  store: ObjectStore,
  task: KpiWindowTask,
  committedRuns = threadCommittedRuns,
): Promise<KpiWindowRows> {
  const profile = await loadProfile(task.run.dataset);
  const kpis = runKpis(profile, task.run.options, profileSettings(task.config));
  const window: KpiWindow = {
    ...task.window,
    kpis: task.window.kpis.map((name) => kpis.find((k) => k.name === name)!),
  };
  const turn = threadFoldTurns.turn();
  const { reader, input } = freshInput(
    store,
    profile,
    task.config.CARTPIPE_TIME_ZONE,
    task.run.options,
    committedRuns,
    turn,
  );
  let byKpi: Record<string, KpiRow[]>;
  try {
    byKpi = await profile.computeKpis(input, window.date, window);
  } finally {
    turn.done();
  }
  // The window's Parquet copies are written here, on the thread that computed them: on the main
  // thread, hundreds of small files one after another were the stage's serial part.
  // The window's KPIs are stored at once, not one request after another.
  const stored = await Promise.all(
    window.kpis.map(async (kpi) => {
      const rows = byKpi[kpi.name] ?? [];
      const key = layout.kpiPartKey(task.run.dataset, kpi.name, window.date);
      if (rows.length === 0) {
        await store.delete([key]);
        return [];
      }
      const columns = rowsToColumns(rows, kpi.columns);
      await store.put(key, encodeParquet(kpi.columns, columns), 'application/vnd.apache.parquet');
      return [key];
    }),
  );
  const time = turn.time();
  return {
    byKpi,
    partsRead: reader.partsRead,
    written: stored.flat(),
    ...(time ? { turn: time } : {}),
  };
}

/**
 * A KPI's rows as its table's columns, row by row: each row object is visited once (a column at
 * a time went through a million rows' objects once per column, each a cache miss).
 */
function rowsToColumns(rows: readonly KpiRow[], defs: readonly ColumnDef[]): Columns {
  const names = defs.map((c) => c.name);
  const columns = names.map(() => new Array<Value>(rows.length));
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    for (let c = 0; c < names.length; c++) columns[c]![i] = (row[names[c]!] ?? null) as Value;
  }
  return Object.fromEntries(names.map((name, c) => [name, columns[c]!]));
}
