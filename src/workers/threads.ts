/**
 * Worker threads for a stage's independent pieces (upload: one input file each; compute-kpi: one
 * KPI period each), so a task with several vCPUs uses them all. Each piece runs the same
 * function it would run in this thread, over this thread's ObjectStore (./remote-store.ts).
 * With one worker configured or one CPU available, pieces run here: no thread, no copying. A
 * stage may have each thread (or this one) work on several pieces at once, so that one piece's
 * waits on the store are another's working time (StageThreadsOptions.concurrency).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerResourceLimits } from './heap.js';
import { errorFromData, type ErrorData } from '../errors.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { StageContext } from '../stages/context.js';
import { availableCpus } from './cpus.js';
import { serveObjectStore } from './remote-store.js';

/** What a worker is asked to do: plain data, so it crosses the thread boundary as is. */
export interface StageTask {
  kind: string;
}

export type TaskOutcome<R> = { ok: true; value: R } | { ok: false; error: ErrorData };

/** CARTPIPE_WORKERS resolved: 0 means one per CPU; unset (a core called directly) means 1. */
export function workerCount(setting: number | undefined): number {
  if (setting === undefined) return 1;
  return setting === 0 ? availableCpus() : setting;
}

/**
 * The compiled worker module. From TypeScript sources (ts-jest), the build's copy: a worker
 * thread runs plain JavaScript.
 */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const script = here.endsWith('.ts')
    ? here.replace(/\/src\/workers\/threads\.ts$/, '/dist/src/workers/stage-worker.js')
    : here.replace(/threads\.js$/, 'stage-worker.js');
  if (!existsSync(script)) throw new Error(`worker module ${script} not found: run npm run build`);
  return script;
}

/** `work`, or the signal's reason as soon as it aborts (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

export interface StageThreadsOptions {
  /**
   * Pieces each thread (this one when there are no workers) works on at once (default 1). More
   * than one lets a piece that waits on the store (an S3 request is a round trip of 10-50 ms)
   * leave its thread to another piece: for stages whose pieces are small and read several
   * objects each (compute-kpi's periods), not for those that keep a thread busy (upload's files).
   */
  concurrency?: number;
  /**
   * Pieces each thread may work on at once when the stage's pieces say they waited: from
   * `concurrency`, {@link StageThreads.map} doubles it up to this whenever its `widen` says so
   * after a piece. For stages whose pieces make several round trips one after another
   * (compute-kpi's periods: a listing, the parts, the KPI objects written), which on S3 keep a few
   * pieces per thread waiting most of the time, while on a store without latency more of them
   * would only hold more memory. Default: `concurrency` (no widening).
   */
  maxConcurrency?: number;
  /**
   * The calling thread works on pieces too, as one of `size` threads (one worker fewer is
   * started): for stages whose pieces are short and whose calling thread has little else to do
   * (compute-kpi), a worker's isolate, heap and the relaying of its store calls cost more than
   * the caller's idle core gives back.
   */
  shareCallerThread?: boolean;
  /**
   * Worker threads open their own store when the stage's store tells how (ObjectStore.opener)
   * instead of borrowing this thread's: for stages of many small requests (compute-kpi: ~9 a
   * period), which this thread otherwise made one after another for every worker.
   */
  workersOpenStore?: boolean;
}

/** Where {@link StageThreads.map} runs one item: its abort signal and a runner for its task. */
export interface Lane {
  readonly signal: AbortSignal;
  /** Runs `task` on a worker thread, or `here` when this lane is the calling thread's. */
  run<R>(task: StageTask, here: (store: ObjectStore) => Promise<R>): Promise<R>;
}

export class StageThreads {
  readonly size: number;
  private readonly pool: Piscina | undefined;
  private readonly concurrency: number;
  private readonly maxConcurrency: number;
  private readonly workersOpenStore: boolean;
  /** Worker threads started: `size`, or one fewer when the calling thread shares the work. */
  readonly workers: number;
  /** Whether lanes of {@link map} run in this thread. */
  private readonly callerShares: boolean;

  /** `pieces`: how many pieces the stage has; no more threads than that are started. */
  constructor(
    private readonly ctx: Pick<StageContext, 'store' | 'config' | 'signal'>,
    pieces: number,
    options: StageThreadsOptions = {},
  ) {
    this.size = Math.max(1, Math.min(workerCount(ctx.config.CARTPIPE_WORKERS), pieces));
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.maxConcurrency = Math.max(this.concurrency, options.maxConcurrency ?? 1);
    this.workersOpenStore = options.workersOpenStore ?? false;
    this.workers = this.size === 1 ? 0 : options.shareCallerThread ? this.size - 1 : this.size;
    this.callerShares = this.workers < this.size;
    this.pool =
      this.workers > 0
        ? new Piscina({
            filename: workerScript(),
            minThreads: this.workers,
            maxThreads: this.workers,
            // A piece waits for a free slot rather than in a thread's own queue; a thread has a
            // slot for as many pieces as map may widen to.
            concurrentTasksPerWorker: this.maxConcurrency,
            resourceLimits: workerResourceLimits(),
          })
        : undefined;
  }

  /** Runs `task` on a worker thread, or `here` in this thread when there are none. */
  async run<R>(
    task: StageTask,
    here: (store: ObjectStore) => Promise<R>,
    signal?: AbortSignal,
  ): Promise<R> {
    if (!this.pool) return here(this.ctx.store);
    const signals = [this.ctx.signal, signal].filter((s): s is AbortSignal => s !== undefined);
    const stop = signals.length > 0 ? AbortSignal.any(signals) : undefined;
    stop?.throwIfAborted();
    const opener = this.workersOpenStore ? this.ctx.store.opener : undefined;
    const { port1, port2 } = opener ? {} : new MessageChannel();
    if (port1) serveObjectStore(port1, this.ctx.store);
    try {
      const message = port2
        ? { task, port: port2, bucket: this.ctx.store.bucket }
        : { task, opener, bucket: this.ctx.store.bucket };
      const transferList = port2 ? [port2] : [];
      // piscina gives a task it can abort a thread of its own, which would leave the thread's
      // other slots unused: with several pieces per thread the caller stops waiting instead,
      // and the piece (its store closed with the port) is dropped with the pool.
      const outcome = (await (this.concurrency === 1
        ? this.pool.run(message, { transferList, ...(stop ? { signal: stop } : {}) })
        : untilAborted(this.pool.run(message, { transferList }), stop))) as TaskOutcome<R>;
      if (!outcome.ok) throw errorFromData(outcome.error);
      return outcome.value;
    } finally {
      port1?.close();
    }
  }

  /**
   * Runs `work` for each item, a few at a time on each thread; results in item order. Each item
   * gets a {@link Lane}: its task runs on a worker thread, or in this thread when this lane is
   * the caller's (no workers, or `shareCallerThread`). With `maxConcurrency`, more lanes are
   * opened whenever `widen`, asked after each item, says the threads are waiting rather than
   * working. The first failure stops launching more, aborts those running on threads (with
   * several pieces per thread: stops waiting for them) and is what this throws.
   */
  async map<T, R>(
    items: readonly T[],
    work: (item: T, index: number, lane: Lane) => Promise<R>,
    options: { widen?: () => boolean } = {},
  ): Promise<R[]> {
    const results = new Array<R>(items.length);
    const failed = new AbortController();
    let failure: { error: unknown } | undefined;
    let next = 0;
    const onWorker: Lane = {
      signal: failed.signal,
      run: (task, here) => this.run(task, here, failed.signal),
    };
    const inCaller: Lane = { signal: failed.signal, run: (_, here) => here(this.ctx.store) };
    const drains: Promise<void>[] = [];
    let perThread = this.concurrency;
    let callerLanes = 0;
    let workerRounds = 0;
    const drain = async (lane: Lane) => {
      while (next < items.length && !failure) {
        const index = next++;
        try {
          results[index] = await work(items[index]!, index, lane);
        } catch (error) {
          failure ??= { error };
          failed.abort(error);
        }
        if (perThread < this.maxConcurrency && next < items.length && options.widen?.()) {
          perThread = Math.min(this.maxConcurrency, perThread * 2);
          openLanes();
        }
      }
    };
    // `perThread` lanes in this thread (when it shares the work), and one more per worker than it
    // works on: while the caller finishes one item's result (compute-kpi writes its KPI rows), the
    // thread that computed it already has the next one. Lanes alternate between the threads, so
    // that a few items still go to different threads.
    const openLanes = () => {
      const callerWanted = this.callerShares ? perThread : 0;
      const workerRoundsWanted = this.workers > 0 ? perThread + 1 : 0;
      while (
        (callerLanes < callerWanted || workerRounds < workerRoundsWanted) &&
        drains.length < items.length
      ) {
        if (callerLanes < callerWanted) {
          drains.push(drain(inCaller));
          callerLanes += 1;
        }
        if (workerRounds < workerRoundsWanted) {
          for (let w = 0; w < this.workers && drains.length < items.length; w++)
            drains.push(drain(onWorker));
          workerRounds += 1;
        }
      }
    };
    openLanes();
    // Lanes opened while these are awaited are awaited too.
    for (let i = 0; i < drains.length; i++) await drains[i];
    if (failure) throw failure.error;
    return results;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
