import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { expandPaths } from '../../src/cli/submit.js';
import {
  errorFromData,
  errorToData,
  InputFileError,
  NotFoundError,
  StorageError,
} from '../../src/errors.js';
import { listAll } from '../../src/ports/object-store.js';
import { readRunManifest } from '../../src/stages/context.js';
import { convertFile, type ConvertedFile, type ConvertFileTask } from '../../src/stages/upload.js';
import { RemoteObjectStore, serveObjectStore } from '../../src/workers/remote-store.js';
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

  it('a RemoteObjectStore does what the store it is served does', async () => {
    const { port1, port2 } = new MessageChannel();
    serveObjectStore(port1, t.store);
    const remote = new RemoteObjectStore(port2, t.store.bucket);
    try {
      const big = randomBytes(3 * 1024 * 1024 + 17);
      await remote.put('remote/big.bin', big);
      expect(Buffer.from(await remote.get('remote/big.bin')).equals(big)).toBe(true);
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
});
