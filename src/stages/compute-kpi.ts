/**
 * compute-kpi: recomputes the KPIs of every period the run touched from all validated data of
 * those periods (not only this batch), then replaces the stored rows of each (kpi, period date)
 * in DynamoDB and its Parquet file under kpis/. A day KPI's period is the touched date itself; a
 * month KPI touched by one day is recomputed from the whole month. Replacing whole dates makes
 * re-runs idempotent. Then the profile's sinks (online-retail's purchase history) rewrite each
 * touched date.
 */
import type { RunManifest } from '../contracts/manifest.js';
import { getProfile } from '../profiles/registry.js';
import { profileSettings, runKpis } from '../profiles/settings.js';
import { addDays, dateInZone, periodOf, startOfDate } from '../profiles/time.js';
import type { KpiPeriod, KpiSpec, KpiWindow } from '../profiles/types.js';
import { StageThreads } from '../workers/threads.js';
import type { StageContext } from './context.js';
import { computeKpiWindow, freshInput, type KpiWindowTask, type TurnTime } from './kpi-window.js';

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

/**
 * KPI periods a thread may compute at once while the threads wait on the store
 * (StageThreadsOptions.maxConcurrency). A period makes a few round trips one after another (its
 * listings, its parts, its KPI objects), so on S3 three periods a thread leave the cores waiting:
 * 1M rows with 20 ms added to every store call took 4.5 s on two cores against 1.1 s without the
 * latency; with 8 periods 2.1 s, 16 1.8 s, 32 1.6 s (and 10 MB more than 16). The parts they fetch
 * ahead stay within the thread's prefetch budget however many wait.
 */
const KPI_WINDOWS_PER_THREAD_WAITING = 16;

/**
 * A period's fold that found its thread idle for more than this share of its turn was waiting for
 * the store: more periods in flight would have had its parts there in time.
 */
const WAITED_SHARE = 0.1;

/**
 * More periods are put in flight only while no period has had more KPI rows than this: a period
 * with many rows keeps its thread busy anyway, and its rows are held until stored, so more of
 * them in flight would be memory rather than speed (clickstream's months of users).
 */
const WIDEN_UP_TO_WINDOW_ROWS = 10_000;

/**
 * Dates a sink writes at once. Each is a lease, a read of the date's rows and the sink's writes
 * (online-retail's purchase history: a query and batches of DynamoDB writes), round trips one
 * after another, and a month's dates one at a time were that many times those round trips. A
 * date's rows are held whole while written, so a few at a time, not all.
 */
const SINK_DATES_AT_ONCE = 4;

/**
 * `work` for every item, up to `atOnce` at a time; once one fails no more are started, and the
 * first failure is thrown after those already started have ended.
 */
async function eachAtOnce<T>(
  items: readonly T[],
  atOnce: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < items.length && !failure) {
      try {
        await work(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(atOnce, items.length) }, lane));
  if (failure) throw failure.error;
}

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

/** Whether a period's fold, which held its thread's turn for `turn`, was waiting for the store. */
export function foldWaited(turn: TurnTime | undefined): boolean {
  return turn !== undefined && turn.idleMs > WAITED_SHARE * turn.heldMs;
}

/**
 * Whether more periods should be in flight: some period's fold waited for the store since the
 * last time this was asked, and no period so far had many rows.
 */
export function widensAfter(foldsWaited: number, mostWindowRows: number): boolean {
  return foldsWaited > 0 && mostWindowRows <= WIDEN_UP_TO_WINDOW_ROWS;
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
    maxConcurrency: KPI_WINDOWS_PER_THREAD_WAITING,
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
    // Counted as the periods come back, and asked about when one is done (by then others may be).
    let foldsWaited = 0;
    let mostWindowRows = 0;
    const widen = () => {
      const wider = widensAfter(foldsWaited, mostWindowRows);
      foldsWaited = 0;
      return wider;
    };
    await threads.map(
      windows,
      async (window, _, lane) => {
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
            turn,
          } = await lane.run(task, (store) => computeKpiWindow(store, task, committedRuns));
          if (foldWaited(turn)) foldsWaited += 1;
          partsRead += read;
          outputs.push(...written);
          mostWindowRows = Math.max(
            mostWindowRows,
            window.kpis.reduce((sum, kpi) => sum + (byKpi[kpi.name]?.length ?? 0), 0),
          );
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
      },
      { widen },
    );
    for (const sink of profile.sinks ?? []) {
      sinkItems[sink.name] = 0;
      await eachAtOnce(dates, SINK_DATES_AT_ONCE, (date) =>
        lease(date, async () => {
          const { reader, input } = freshInput(
            ctx.store,
            profile,
            timeZone,
            run.options,
            committedRuns,
          );
          // Awaited first: `+= await` would add to the total as it was before the write, and
          // other dates' writes end in between.
          const items = await sink.writeDate(input, date, { history: ctx.history });
          sinkItems[sink.name]! += items;
          partsRead += reader.partsRead;
        }),
      );
      ctx.log.info('sink written', { sink: sink.name, items: sinkItems[sink.name] });
    }
    return { datesTouched: [...dates], kpiRows, outputs: outputs.sort(), partsRead, sinkItems };
  } finally {
    await threads.close();
  }
}
