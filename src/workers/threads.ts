/**
 * Worker threads for a stage's independent pieces (upload: one input file each; compute-kpi: one
 * KPI period each), so a task with several vCPUs uses them all. Each piece runs the same
 * function it would run in this thread, over this thread's ObjectStore (./remote-store.ts).
 * With one worker configured or one CPU available, pieces run here, one after another: no
 * thread, no copying.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { WORKER_RESOURCE_LIMITS } from './heap.js';
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

export class StageThreads {
  readonly size: number;
  private readonly pool: Piscina | undefined;

  /** `pieces`: how many pieces the stage has; no more threads than that are started. */
  constructor(
    private readonly ctx: Pick<StageContext, 'store' | 'config' | 'signal'>,
    pieces: number,
  ) {
    this.size = Math.max(1, Math.min(workerCount(ctx.config.CARTPIPE_WORKERS), pieces));
    this.pool =
      this.size > 1
        ? new Piscina({
            filename: workerScript(),
            minThreads: this.size,
            maxThreads: this.size,
            // A piece waits for a free thread rather than in a thread's own queue.
            concurrentTasksPerWorker: 1,
            resourceLimits: WORKER_RESOURCE_LIMITS,
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
    const { port1, port2 } = new MessageChannel();
    serveObjectStore(port1, this.ctx.store);
    try {
      const signals = [this.ctx.signal, signal].filter((s): s is AbortSignal => s !== undefined);
      const outcome = (await this.pool.run(
        { task, port: port2, bucket: this.ctx.store.bucket },
        {
          transferList: [port2],
          ...(signals.length > 0 ? { signal: AbortSignal.any(signals) } : {}),
        },
      )) as TaskOutcome<R>;
      if (!outcome.ok) throw errorFromData(outcome.error);
      return outcome.value;
    } finally {
      port1.close();
    }
  }

  /**
   * Runs `work` for each item, a few at a time (one at a time without threads); results in item
   * order. The first
   * failure stops launching more, aborts those running and is what this throws.
   */
  async map<T, R>(
    items: readonly T[],
    work: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  ): Promise<R[]> {
    const results = new Array<R>(items.length);
    const failed = new AbortController();
    let failure: { error: unknown } | undefined;
    let next = 0;
    const lane = async () => {
      while (next < items.length && !failure) {
        const index = next++;
        try {
          results[index] = await work(items[index]!, index, failed.signal);
        } catch (error) {
          failure ??= { error };
          failed.abort(error);
        }
      }
    };
    // Twice as many in flight as threads: while the caller finishes one item's result (compute-
    // kpi writes its KPI rows), the thread that computed it already has the next one.
    const lanes = this.pool ? this.size * 2 : 1;
    await Promise.all(Array.from({ length: Math.min(lanes, items.length) }, lane));
    if (failure) throw failure.error;
    return results;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
  }
}
