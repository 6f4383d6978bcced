import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MessageChannel } from 'node:worker_threads';
import { expandPaths } from '../../src/cli/submit.js';
import {
  errorFromData,
  errorToData,
  InputFileError,
  NotFoundError,
  StorageError,
} from '../../src/errors.js';
import {
  listAll,
  openStore,
  type ObjectStore,
  type StoreOpener,
} from '../../src/ports/object-store.js';
import { getProfile } from '../../src/profiles/registry.js';
import {
  foldWaited,
  planKpiWindows,
  runComputeKpi,
  widensAfter,
} from '../../src/stages/compute-kpi.js';
import {
  computeKpiWindow,
  FoldTurns,
  type KpiWindowTask,
  type KpiWindowRows,
} from '../../src/stages/kpi-window.js';
import { readRunManifest } from '../../src/stages/context.js';
import { convertFile, type ConvertedFile, type ConvertFileTask } from '../../src/stages/upload.js';
import { RemoteObjectStore, serveObjectStore } from '../../src/workers/remote-store.js';
import { jobNodeFlags, SEMI_SPACE_MB, workerResourceLimits } from '../../src/workers/heap.js';
import { StageThreads, workerCount } from '../../src/workers/threads.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';

describe('errors across a thread boundary', () => {
  it('come back as the same class with code, file, line and cause', () => {
    const cause = new StorageError('S3 said no', { cause: new Error('socket hang up') });
    const original = new InputFileError('row_too_long', 'incoming/b/x.csv', 'row is too long', {
      line: 12,
      cause,
    });
    const revived = errorFromData(structuredClone(errorToData(original)));
    expect(revived).toBeInstanceOf(InputFileError);
    expect(revived).toMatchObject({
      code: 'row_too_long',
      file: 'incoming/b/x.csv',
      line: 12,
      message: 'incoming/b/x.csv:12: row is too long',
    });
    expect(revived.cause).toBeInstanceOf(StorageError);
    expect((revived.cause as Error).cause).toMatchObject({ message: 'socket hang up' });
    expect(errorFromData(errorToData('plain text'))).toMatchObject({ message: 'plain text' });
  });
});

describe('worker threads', () => {
  let t: TestRuntime;
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-threads-'));
  beforeAll(async () => {
    t = await startTestRuntime();
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * thelook-lab uploaded and validated as run `batch`, the KPI windows of its first `days`
   * dates, and the worker task of a window.
   */
  const kpiWindows = async (batch: string, days: number) => {
    const files = expandPaths([join(DATASETS, 'thelook-lab')]);
    const runId = await t.createRun('thelook', batch, files);
    const loaded = await t.runStages(runId, ['upload', 'validate']);
    expect(loaded.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const run = await readRunManifest(t.store, runId);
    const ctx = t.context(runId, { CARTPIPE_WORKERS: 2 });
    const dates = loaded[1]!.datesTouched!.slice(0, days);
    const windows = planKpiWindows(getProfile('thelook').kpis, dates, 'UTC');
    expect(windows.length).toBeGreaterThanOrEqual(days);
    const taskOf = (window: (typeof windows)[number]): KpiWindowTask => ({
      kind: 'kpi-window',
      run,
      config: ctx.config,
      window: { ...window, kpis: window.kpis.map((k) => k.name) },
    });
    return { ctx, windows, taskOf };
  };

  it('a RemoteObjectStore does what the store it is served does', async () => {
    const { port1, port2 } = new MessageChannel();
    serveObjectStore(port1, t.store);
    const remote = new RemoteObjectStore(port2, t.store.bucket);
    try {
      const big = randomBytes(3 * 1024 * 1024 + 17);
      await remote.put('remote/big.bin', big);
      expect(Buffer.from(await remote.get('remote/big.bin')).equals(big)).toBe(true);
      // Ranged reads (S3 Range through the served store): within, past the end, empty.
      const middle = await remote.getRange('remote/big.bin', 1_000_000, 1_065_536);
      expect(Buffer.from(middle).equals(big.subarray(1_000_000, 1_065_536))).toBe(true);
      const tail = await remote.getRange('remote/big.bin', big.length - 10, big.length + 100);
      expect(Buffer.from(tail).equals(big.subarray(big.length - 10))).toBe(true);
      expect((await remote.getRange('remote/big.bin', 5, 5)).byteLength).toBe(0);
      await expect(remote.getRange('remote/none.bin', 0, 10)).rejects.toBeInstanceOf(NotFoundError);
      const chunks: Buffer[] = [];
      for await (const chunk of await remote.stream('remote/big.bin')) chunks.push(chunk as Buffer);
      expect(chunks.length).toBeGreaterThan(1);
      expect(Buffer.concat(chunks).equals(big)).toBe(true);

      const path = join(dir, 'small.txt');
      writeFileSync(path, 'hello');
      await remote.putFile('remote/small.txt', path, 'text/plain');
      expect((await remote.head('remote/small.txt'))?.size).toBe(5);
      expect((await listAll(remote, 'remote/')).map((o) => o.key)).toEqual([
        'remote/big.bin',
        'remote/small.txt',
      ]);
      await remote.delete(['remote/big.bin', 'remote/small.txt']);
      expect(await remote.head('remote/small.txt')).toBeUndefined();
      await expect(remote.get('remote/small.txt')).rejects.toBeInstanceOf(NotFoundError);
      await expect(remote.stream('remote/small.txt')).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      port1.close();
    }
  });

  it('streams an object in replies of many source chunks, each chunk kept whole and in order', async () => {
    // A socket hands over a few KB at a time: 2,000 chunks of 1 KB, one reply each would be a
    // message per KB.
    const source = Array.from({ length: 2000 }, (_, i) => Buffer.alloc(1024, i % 251));
    const expected = Buffer.concat(source); // the chunks' own buffers are handed over
    const chunked: ObjectStore = Object.create(t.store) as ObjectStore;
    chunked.stream = () => Promise.resolve(Readable.from(source));
    const { port1, port2 } = new MessageChannel();
    serveObjectStore(port1, chunked);
    const remote = new RemoteObjectStore(port2, t.store.bucket);
    let replies = 0;
    port2.on('message', () => (replies += 1));
    try {
      const received: Buffer[] = [];
      const stream = await remote.stream('any/key');
      for await (const chunk of stream) received.push(chunk as Buffer);
      expect(Buffer.concat(received).equals(expected)).toBe(true);
      // One reply opens the stream, one says it ended; the 2 MB come in a few between.
      expect(replies).toBeLessThanOrEqual(2 + 3);
    } finally {
      port1.close();
    }
  });

  it("sizes worker threads' young generation after the process's own semi-space flag", () => {
    expect(workerResourceLimits(['--max-semi-space-size=16', 'dist/jobs/validate.js'])).toEqual({
      maxYoungGenerationSizeMb: 48,
    });
    expect(workerResourceLimits(['--max-semi-space-size=16', '--max-semi-space-size=32'])).toEqual({
      maxYoungGenerationSizeMb: 96,
    });
    expect(workerResourceLimits([])).toEqual({ maxYoungGenerationSizeMb: 96 });
    // Each job's own flags give its threads the same young generation as its main thread.
    for (const stage of ['upload', 'validate', 'compute-kpi'] as const) {
      expect(workerResourceLimits(jobNodeFlags(stage)).maxYoungGenerationSizeMb).toBe(
        3 * SEMI_SPACE_MB[stage],
      );
    }
  });

  it('CARTPIPE_WORKERS: unset runs in this thread, 0 means one per CPU', () => {
    expect(workerCount(undefined)).toBe(1);
    expect(workerCount(3)).toBe(3);
    expect(workerCount(0)).toBeGreaterThanOrEqual(1);
  });

  it('converts a file on a worker thread to exactly the parts this thread writes', async () => {
    const files = expandPaths([join(DATASETS, 'thelook-lab', 'order_items')]).slice(0, 2);
    const runId = await t.createRun('thelook', 'threads', files);
    const run = await readRunManifest(t.store, runId);
    const ctx = t.context(runId, { CARTPIPE_WORKERS: 2 });
    const threads = new StageThreads(ctx, 2);
    expect(threads.size).toBe(2);
    const hashes = async (keys: string[]) =>
      Promise.all(keys.map(async (k) => Buffer.from(await t.store.get(k)).toString('base64')));
    try {
      const task: ConvertFileTask = { kind: 'upload-file', run, index: 1, config: ctx.config };
      const onWorker = await threads.run<ConvertedFile>(task, () => {
        throw new Error('ran in the calling thread');
      });
      const workerBytes = await hashes(onWorker.written);
      const here = await convertFile(t.store, ctx.config, run, 1);
      expect(here).toEqual(onWorker);
      expect(onWorker.written[0]).toMatch(/\/part-00001-00000\.parquet$/);
      expect(await hashes(here.written)).toEqual(workerBytes);

      // A failure in the worker arrives as our error, with its code and file.
      const wrong = { ...run, files: run.files.map((f) => ({ ...f, rows: 1 })) };
      const failingTask: ConvertFileTask = { ...task, run: wrong };
      const failing = await threads
        .run(failingTask, () => Promise.reject(new Error('ran here')))
        .catch((e: unknown) => e);
      expect(failing).toBeInstanceOf(InputFileError);
      expect(failing).toMatchObject({ code: 'row_count_mismatch', file: run.files[1]!.key });
    } finally {
      await threads.close();
    }
  });

  it('works on `concurrency` pieces at once in this thread, results in order, and stops at a failure', async () => {
    const ctx = t.context('concurrency', { CARTPIPE_WORKERS: 1 });
    const threads = new StageThreads(ctx, 10, { concurrency: 3 });
    expect(threads.size).toBe(1);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const work = async (item: number) => {
      started.push(item);
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 10));
      running -= 1;
      if (item === 4) throw new Error('item 4 failed');
      return item * 2;
    };
    expect(await threads.map([0, 1, 2, 3], work)).toEqual([0, 2, 4, 6]);
    expect(most).toBe(3);
    started.length = 0;
    await expect(threads.map([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], work)).rejects.toThrow(
      'item 4 failed',
    );
    // Pieces started before the failure (at most three at a time), none after it.
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
    await threads.close();
  });

  it('opens more lanes, doubling up to maxConcurrency, while `widen` says the pieces waited', async () => {
    const ctx = t.context('widening', { CARTPIPE_WORKERS: 1 });
    const threads = new StageThreads(ctx, 40, { concurrency: 2, maxConcurrency: 8 });
    let running = 0;
    let most = 0;
    const work = async (item: number) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return item;
    };
    const items = Array.from({ length: 40 }, (_, i) => i);
    try {
      expect(await threads.map(items, work)).toEqual(items);
      expect(most).toBe(2);
      most = 0;
      let asked = 0;
      const widen = () => ++asked <= 2; // two doublings: 2 -> 4 -> 8
      expect(await threads.map(items, work, { widen })).toEqual(items);
      expect(most).toBe(8);
      most = 0;
      expect(await threads.map(items, work, { widen: () => true })).toEqual(items);
      expect(most).toBe(8); // never past maxConcurrency
    } finally {
      await threads.close();
    }
  });

  it('a fold turn tells how long its thread sat idle in it: waiting for I/O, not computing', async () => {
    const turns = new FoldTurns();
    const waiting = turns.turn();
    const computing = turns.turn();
    expect(waiting.time()).toBeUndefined();
    await waiting.ready();
    await new Promise((r) => setTimeout(r, 40)); // an S3 round trip, the thread with nothing to do
    waiting.done();
    await computing.ready();
    const until = performance.now() + 40;
    while (performance.now() < until); // folding rows
    computing.done();
    const waited = waiting.time()!;
    const computed = computing.time()!;
    expect(waited.heldMs).toBeGreaterThanOrEqual(35);
    expect(waited.idleMs).toBeGreaterThan(0.5 * waited.heldMs);
    expect(computed.heldMs).toBeGreaterThanOrEqual(35);
    expect(computed.idleMs).toBeLessThan(0.1 * computed.heldMs);
    // A turn never asked for was never held.
    const unused = turns.turn();
    unused.done();
    expect(unused.time()).toBeUndefined();
  });

  it('compute-kpi puts more periods in flight when their folds wait on the store, with the same KPIs', async () => {
    const files = expandPaths([join(DATASETS, 'thelook-lab')]);
    const runId = await t.createRun('thelook', 'kpi-widening', files);
    const loaded = await t.runStages(runId, ['upload', 'validate']);
    const dates = loaded[1]!.datesTouched!;
    expect(dates.length).toBeGreaterThan(20);
    const run = await readRunManifest(t.store, runId);
    /** The most dates listed at once, every listing and read taking `latencyMs` more. */
    const computeWith = async (latencyMs: number) => {
      const listing = new Set<string>();
      let most = 0;
      const delay = () => new Promise((r) => setTimeout(r, latencyMs));
      const slow: ObjectStore = new Proxy(t.store, {
        get(target, property, receiver) {
          if (property === 'opener') return undefined;
          if (property === 'get' || property === 'getRange')
            return async (...args: [string, number, number]) => {
              await delay();
              return property === 'get' ? target.get(args[0]) : target.getRange(...args);
            };
          if (property !== 'list') return Reflect.get(target, property, receiver) as unknown;
          return async function* (prefix: string) {
            const date = /date=([\d-]+)/.exec(prefix)?.[1];
            if (date) listing.add(date);
            most = Math.max(most, listing.size);
            await delay();
            yield* target.list(prefix);
            if (date) listing.delete(date);
          };
        },
      });
      const ctx = { ...t.context(runId, { CARTPIPE_WORKERS: 1 }), store: slow };
      const result = await runComputeKpi(ctx, run, dates);
      const rows = await t.kpis.list('thelook', 'daily');
      return { most, result, rows };
    };
    const quick = await computeWith(0);
    const slowed = await computeWith(100);
    // Three periods at once on the one thread to begin with; more once their folds waited.
    expect(slowed.most).toBeGreaterThan(3);
    expect(slowed.result.kpiRows).toEqual(quick.result.kpiRows);
    expect(slowed.rows).toEqual(quick.rows);
    expect(slowed.rows.length).toBe(dates.length);
  });

  it('compute-kpi widens after a fold that waited, unless a period had many KPI rows', () => {
    expect(foldWaited({ heldMs: 50, idleMs: 30 })).toBe(true);
    expect(foldWaited({ heldMs: 50, idleMs: 1 })).toBe(false); // computing, not waiting
    expect(foldWaited(undefined)).toBe(false); // read nothing
    expect(widensAfter(1, 8)).toBe(true);
    expect(widensAfter(0, 8)).toBe(false);
    // A period of 20,000 KPI rows (a month of users) keeps its thread busy and its rows held.
    expect(widensAfter(3, 20_000)).toBe(false);
  });

  it('lets each worker thread compute several KPI periods at once, their store waits overlapping', async () => {
    const { ctx, windows, taskOf } = await kpiWindows('kpi-concurrency', 12);

    /** The most listings in flight at once while the windows are computed on two threads. */
    const mostListings = async (concurrency: number) => {
      let listing = 0;
      let most = 0;
      // Every listing takes 20 ms, as an S3 round trip would.
      const slow: ObjectStore = new Proxy(t.store, {
        get(target, property, receiver) {
          if (property !== 'list') return Reflect.get(target, property, receiver) as unknown;
          return async function* (prefix: string) {
            listing += 1;
            most = Math.max(most, listing);
            await new Promise((r) => setTimeout(r, 20));
            listing -= 1;
            yield* target.list(prefix);
          };
        },
      });
      const threads = new StageThreads({ ...ctx, store: slow }, windows.length, { concurrency });
      try {
        const rows = await threads.map(windows, (window, _, lane) =>
          lane.run<KpiWindowRows>(taskOf(window), () => Promise.reject(new Error('ran here'))),
        );
        expect(rows.every((r) => r.byKpi.daily!.length === 1)).toBe(true);
      } finally {
        await threads.close();
      }
      return most;
    };
    const one = await mostListings(1);
    const three = await mostListings(3);
    expect(three).toBeGreaterThan(one);
  });

  it('an S3 store tells another thread how to open its own store over the same bucket', async () => {
    expect(t.store.opener).toBeDefined();
    const again = await openStore(structuredClone(t.store.opener!));
    expect(again).not.toBe(t.store);
    expect(again.bucket).toBe(t.store.bucket);
    await t.store.put('opener/a.txt', 'written by the first');
    expect(Buffer.from(await again.get('opener/a.txt')).toString()).toBe('written by the first');
    await again.delete(['opener/a.txt']);
    expect(await t.store.head('opener/a.txt')).toBeUndefined();
  });

  it('with workersOpenStore, workers make their own requests; without an opener they borrow ours', async () => {
    const { ctx, windows, taskOf } = await kpiWindows('kpi-own-store', 6);
    // This thread's store: every request through it is counted; its opener is the real store's.
    let borrowed = 0;
    const counted = (opener: StoreOpener | undefined): ObjectStore =>
      new Proxy(t.store, {
        get(target, property, receiver) {
          if (property === 'opener') return opener;
          const value: unknown = Reflect.get(target, property, receiver);
          if (typeof value !== 'function' || property === 'bucket') return value;
          return (...args: unknown[]) => {
            borrowed += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    const computeAll = async (store: ObjectStore) => {
      const threads = new StageThreads({ ...ctx, store }, windows.length, {
        concurrency: 2,
        workersOpenStore: true,
      });
      expect(threads.workers).toBe(2);
      try {
        return await threads.map(windows, (window, _, lane) =>
          lane.run<KpiWindowRows>(taskOf(window), () => Promise.reject(new Error('ran here'))),
        );
      } finally {
        await threads.close();
      }
    };
    const own = await computeAll(counted(t.store.opener));
    expect(borrowed).toBe(0);
    const lent = await computeAll(counted(undefined));
    expect(borrowed).toBeGreaterThanOrEqual(windows.length);
    expect(own.map((r) => r.byKpi)).toEqual(lent.map((r) => r.byKpi));
    expect(own.every((r) => r.byKpi.daily!.length === 1)).toBe(true);
  });

  it('with shareCallerThread, works on pieces in the calling thread and on one worker less', async () => {
    const { ctx, windows, taskOf } = await kpiWindows('kpi-shared', 12);
    const expected = [];
    for (const window of windows)
      expected.push((await computeKpiWindow(t.store, taskOf(window), new Set())).byKpi);

    const threads = new StageThreads(ctx, windows.length, {
      concurrency: 2,
      shareCallerThread: true,
    });
    expect(threads.size).toBe(2);
    expect(threads.workers).toBe(1);
    try {
      const inCaller: number[] = [];
      const computed = (items: typeof windows) =>
        threads.map(items, (window, index, lane) =>
          lane.run<KpiWindowRows>(taskOf(window), (store) => {
            inCaller.push(index);
            return computeKpiWindow(store, taskOf(window), new Set());
          }),
        );
      const rows = await computed(windows);
      expect(rows.map((r) => r.byKpi)).toEqual(expected);
      expect(inCaller.length).toBeGreaterThan(0);
      expect(inCaller.length).toBeLessThan(windows.length);
      // Two pieces go to different threads, though the caller alone has lanes for both.
      inCaller.length = 0;
      expect((await computed(windows.slice(0, 2))).map((r) => r.byKpi)).toEqual(
        expected.slice(0, 2),
      );
      expect(inCaller).toEqual([0]);
    } finally {
      await threads.close();
    }
  });
});
