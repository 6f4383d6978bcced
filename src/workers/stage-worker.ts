/**
 * The module every worker thread runs (piscina loads it): one task per call, over the main
 * thread's ObjectStore lent on `port`. Failures come back as data (errorToData), because a
 * thrown error would reach the main thread without its class and code.
 */
import type { MessagePort } from 'node:worker_threads';
import { errorToData } from '../errors.js';
import type { ObjectStore } from '../ports/object-store.js';
import { computeKpiWindow, type KpiWindowTask } from '../stages/compute-kpi.js';
import { convertFile, type ConvertFileTask } from '../stages/upload.js';
import {
  partitionRaw,
  validateBuckets,
  type PartitionRawTask,
  type ValidateBucketsTask,
} from '../stages/validate.js';
import { RemoteObjectStore } from './remote-store.js';
import type { TaskOutcome } from './threads.js';

type Task = ConvertFileTask | KpiWindowTask | PartitionRawTask | ValidateBucketsTask;

function execute(task: Task, store: ObjectStore): Promise<unknown> {
  switch (task.kind) {
    case 'upload-file':
      return convertFile(store, task.config, task.run, task.index);
    case 'kpi-window':
      return computeKpiWindow(store, task);
    case 'validate-partition':
      return partitionRaw(store, task);
    case 'validate-buckets':
      return validateBuckets(store, task);
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
