/**
 * The module every worker thread runs (piscina loads it): one task per call, over the main
 * thread's ObjectStore lent on `port`. Failures come back as data (errorToData), because a
 * thrown error would reach the main thread without its class and code.
 */
import type { MessagePort } from 'node:worker_threads';
import { errorToData } from '../errors.js';
import type { ObjectStore } from '../ports/object-store.js';
import type { KpiWindowTask } from '../stages/compute-kpi.js';
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
      const { computeKpiWindow } = await import('../stages/compute-kpi.js');
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

export default async function runTask({
  task,
  port,
  bucket,
}: {
  task: Task;
  port: MessagePort;
  bucket: string;
}): Promise<TaskOutcome<unknown>> {
  const store = new RemoteObjectStore(port, bucket);
  try {
    return { ok: true, value: await execute(task, store) };
  } catch (error) {
    return { ok: false, error: errorToData(error) };
  } finally {
    port.close();
  }
}
