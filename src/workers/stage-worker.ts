/**
 * The module every worker thread runs (piscina loads it): one task per call, over the main
 * thread's ObjectStore lent on `port`, or a store of this thread's own opened as `opener` says.
 * Failures come back as data (errorToData), because a thrown error would reach the main thread
 * without its class and code.
 */
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { MessagePort } from 'node:worker_threads';
import { errorToData } from '../errors.js';
import { openStore, type ObjectStore, type StoreOpener } from '../ports/object-store.js';
import type { KpiWindowTask } from '../stages/kpi-window.js';
import type { ConvertFileTask } from '../stages/upload.js';
import type { PartitionRawTask, ValidateBucketsTask } from '../stages/validate.js';
import { RemoteObjectStore } from './remote-store.js';
import type { TaskOutcome } from './threads.js';

type Task = ConvertFileTask | KpiWindowTask | PartitionRawTask | ValidateBucketsTask;

// Each stage's module is loaded by the first task that needs it: a pool serves one stage, and
// loading all three cost each worker ~60 ms of CPU more than its own (compute-kpi's periods are
// short enough for that to show).
async function execute(task: Task, store: ObjectStore): Promise<unknown> {
  switch (task.kind) {
    case 'upload-file': {
      const { convertFile } = await import('../stages/upload.js');
      return convertFile(store, task.config, task.run, task.index);
    }
    case 'kpi-window': {
      const { computeKpiWindow } = await import('../stages/kpi-window.js');
      return computeKpiWindow(store, task);
    }
    case 'validate-partition': {
      const { partitionRaw } = await import('../stages/validate.js');
      return partitionRaw(store, task);
    }
    case 'validate-buckets': {
      const { validateBuckets } = await import('../stages/validate.js');
      return validateBuckets(store, task);
    }
  }
}

/**
 * Stores this thread opened, by opener: a pool serves one stage run, whose tasks share one store
 * (an S3 client's connections).
 */
const ownStores = new Map<string, Promise<ObjectStore>>();

/** This project's folder: this module is its build's dist/src/workers/stage-worker.js. */
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A store module named by its TypeScript source (the calling thread runs under ts-jest) is loaded
 * from the build, as this module itself is (threads.ts): a worker thread runs plain JavaScript.
 */
function compiled(opener: StoreOpener): StoreOpener {
  const path = opener.module.startsWith('file:') ? fileURLToPath(opener.module) : opener.module;
  if (!path.endsWith('.ts') || !path.startsWith(PROJECT)) return opener;
  const built = join(PROJECT, 'dist', relative(PROJECT, path).replace(/\.ts$/, '.js'));
  return { ...opener, module: pathToFileURL(built).href };
}

function ownStore(opener: StoreOpener): Promise<ObjectStore> {
  const id = JSON.stringify(opener);
  let store = ownStores.get(id);
  if (!store) {
    store = openStore(compiled(opener));
    ownStores.set(id, store);
    store.catch(() => ownStores.delete(id));
  }
  return store;
}

export default async function runTask(
  message: { task: Task; bucket: string } & (
    { port: MessagePort; opener?: undefined } | { opener: StoreOpener; port?: undefined }
  ),
): Promise<TaskOutcome<unknown>> {
  const { task, port, bucket, opener } = message;
  try {
    const store = opener ? await ownStore(opener) : new RemoteObjectStore(port, bucket);
    return { ok: true, value: await execute(task, store) };
  } catch (error) {
    return { ok: false, error: errorToData(error) };
  } finally {
    port?.close();
  }
}
