/**
 * compute-kpi: recomputes the KPIs of every period the run touched from all validated data of
 * those periods (not only this batch), then replaces the stored rows of each (kpi, period date)
 * in DynamoDB and its Parquet file under kpis/. A day KPI's period is the touched date itself; a
 * month KPI touched by one day is recomputed from the whole month. Replacing whole dates makes
 * re-runs idempotent. Then the profile's sinks (online-retail's purchase history) rewrite each
 * touched date.
 */
import { layout } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import { encodeParquet, type Value } from '../formats/parquet.js';
import { getProfile } from '../profiles/registry.js';
import { profileSettings, runKpis } from '../profiles/settings.js';
import { addDays, dateInZone, periodOf, startOfDate } from '../profiles/time.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { KpiRow } from '../ports/kpi-store.js';
import type { KpiInput, KpiPeriod, KpiSpec, KpiWindow, Profile } from '../profiles/types.js';
import { StageThreads } from '../workers/threads.js';
import { CommittedRuns } from './committed-runs.js';
import type { StageConfig, StageContext } from './context.js';
import { PrefetchBudget } from './prefetch-budget.js';
import { UndatedRowsCache, ValidatedReader } from './validated-reader.js';

export interface ComputeKpiResult {
  datesTouched: string[];
  kpiRows: Record<string, number>;
  outputs: string[];
  partsRead: number;
  /** Items each profile sink wrote (e.g. purchase history). */
  sinkItems: Record<string, number>;
}

/** KPI periods a thread computes at once (see StageThreadsOptions.concurrency). */
const KPI_WINDOWS_PER_THREAD = 3;

const PERIOD_ORDER: Record<KpiPeriod, number> = { day: 0, week: 1, month: 2, year: 3 };

/** Validated date partitions (pipeline zone) holding the instants [start, end). */
function datesCovering(start: number, end: number, zone: string): string[] {
  const last = dateInZone(end - 1, zone);
  const dates: string[] = [];
  for (let d = dateInZone(start, zone); d <= last; d = addDays(d, 1)) dates.push(d);
  return dates;
}

/**
 * The recomputations a run needs: for each KPI, every period (in the KPI's zone) that overlaps a
 * touched date (in the pipeline's zone); KPIs sharing a period and zone share a window, so its
 * rows are read once.
 * @example
 * planKpiWindows([monthlyKpi], ['2010-12-05'], 'UTC') // one window: date 2010-12-01, dates 12-01..12-31
 */
export function planKpiWindows(
  kpis: readonly KpiSpec[],
  dates: readonly string[],
  pipelineZone: string,
): KpiWindow[] {
  const windows = new Map<string, KpiWindow & { kpis: KpiSpec[] }>();
  for (const kpi of kpis) {
    const period = kpi.period ?? 'day';
    const zone = kpi.timeZone ?? pipelineZone;
    for (const date of dates) {
      const end = startOfDate(addDays(date, 1), pipelineZone);
      for (let t = startOfDate(date, pipelineZone); t < end;) {
        const p = periodOf(t, period, zone);
        const id = `${period}|${zone}|${p.date}`;
        let window = windows.get(id);
        if (!window) {
          window = {
            date: p.date,
            period,
            timeZone: zone,
            start: p.start,
            end: p.end,
            dates: datesCovering(p.start, p.end, pipelineZone),
            kpis: [],
          };
          windows.set(id, window);
        }
        if (!window.kpis.includes(kpi)) window.kpis.push(kpi);
        t = p.end;
      }
    }
  }
  return [...windows.values()].sort(
    (a, b) =>
      PERIOD_ORDER[a.period] - PERIOD_ORDER[b.period] ||
      (a.date < b.date ? -1 : a.date > b.date ? 1 : 0) ||
      (a.timeZone < b.timeZone ? -1 : a.timeZone > b.timeZone ? 1 : 0),
  );
}

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
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    return {
      ready: () => {
        if (!asked) {
          asked = this.last;
          this.last = asked.then(() => released);
        }
        return asked;
      },
      done: () => release(),
    };
  }
}

export interface FoldTurn {
  ready(): Promise<void>;
  done(): void;
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
function freshInput(
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
  const profile = getProfile(task.run.dataset);
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
      const columns = Object.fromEntries(
        kpi.columns.map((c) => [c.name, rows.map((r) => (r[c.name] ?? null) as Value)]),
      );
      await store.put(key, encodeParquet(kpi.columns, columns), 'application/vnd.apache.parquet');
      return [key];
    }),
  );
  return { byKpi, partsRead: reader.partsRead, written: stored.flat() };
}

export async function runComputeKpi(
  ctx: StageContext,
  run: RunManifest,
  dates: readonly string[],
): Promise<ComputeKpiResult> {
  const profile = getProfile(run.dataset);
  const kpis = runKpis(profile, run.options, profileSettings(ctx.config));
  const timeZone = ctx.config.CARTPIPE_TIME_ZONE;
  const kpiRows: Record<string, number> = Object.fromEntries(kpis.map((k) => [k.name, 0]));
  const sinkItems: Record<string, number> = {};
  const outputs: string[] = [];
  let partsRead = 0;
  const windows = planKpiWindows(kpis, dates, timeZone);
  const committedRuns = new Set<string>();
  // Several periods at once per thread: each reads a few objects and writes two, so on S3 a
  // period spends more time waiting than computing. A period is a few ms of work, so this thread
  // computes periods too (one worker fewer: its isolate's start, compilation and heap cost more
  // than this thread's idle share of a core) and the workers make their own store requests rather
  // than this thread making ~9 a period for them: 5M rows on two cores 1.74 -> 1.62 s, peak RSS
  // 138 -> 117 MB.
  const threads = new StageThreads(ctx, windows.length, {
    concurrency: KPI_WINDOWS_PER_THREAD,
    shareCallerThread: true,
    workersOpenStore: true,
  });
  try {
    // Each period is recomputed under its (dataset, date) lease: two runs touching the same date
    // take turns, and the later one reads everything the earlier one saw, so neither's write
    // can replace the other's with a view that misses its rows (a lost update). Periods are
    // independent, so several are computed at once, one per worker thread.
    const lease = <T>(date: string, work: () => Promise<T>) =>
      ctx.kpis.withDateLease(run.dataset, date, ctx.config.RUN_ID, work);
    await threads.map(windows, async (window, _, lane) => {
      await lease(window.date, async () => {
        const task: KpiWindowTask = {
          kind: 'kpi-window',
          run,
          config: ctx.config,
          window: { ...window, kpis: window.kpis.map((k) => k.name) },
        };
        const {
          byKpi,
          partsRead: read,
          written,
        } = await lane.run(task, (store) => computeKpiWindow(store, task, committedRuns));
        partsRead += read;
        outputs.push(...written);
        for (const kpi of window.kpis) {
          const rows = byKpi[kpi.name] ?? [];
          await ctx.kpis.replaceDate({
            dataset: run.dataset,
            kpi: kpi.name,
            date: window.date,
            groupBy: kpi.groupBy,
            rows,
          });
          kpiRows[kpi.name]! += rows.length;
        }
      });
      ctx.log.debug('kpis computed', { date: window.date, period: window.period });
    });
    for (const sink of profile.sinks ?? []) {
      sinkItems[sink.name] = 0;
      for (const date of dates) {
        await lease(date, async () => {
          const { reader, input } = freshInput(
            ctx.store,
            profile,
            timeZone,
            run.options,
            committedRuns,
          );
          sinkItems[sink.name]! += await sink.writeDate(input, date, {
            history: ctx.history,
          });
          partsRead += reader.partsRead;
        });
      }
      ctx.log.info('sink written', { sink: sink.name, items: sinkItems[sink.name] });
    }
    return { datesTouched: [...dates], kpiRows, outputs: outputs.sort(), partsRead, sinkItems };
  } finally {
    await threads.close();
  }
}
