/**
 * The body of every job entry point: read the config, build the AWS adapters, run the stage,
 * exit 0 on success and 1 on failure (the report in S3 says why), 124 when stopped by SIGTERM.
 */
import { Worker } from 'node:worker_threads';
import { JOB_ENV, loadDotenv, readConfig } from '../config.js';
import type { Stage } from '../contracts/layout.js';
import { describeError, isCartpipeError, StageStoppedError } from '../errors.js';
import { createLogger } from '../log.js';
import { dynamoDocumentClient } from '../adapters/aws/clients.js';
import { DynamoDbHistoryStore } from '../adapters/aws/dynamodb-history-store.js';
import { DynamoDbKpiStore } from '../adapters/aws/dynamodb-kpi-store.js';
import { openS3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { executeStage } from './run-stage.js';

export const EXIT = { succeeded: 0, failed: 1, killed: 124 } as const;

/**
 * After SIGTERM, the longest wait for the stopped report before leaving anyway (ECS sends
 * SIGKILL after the task's stopTimeout, 2 to 120 s: terraform task_stop_timeout_seconds).
 */
const STOP_REPORT_GRACE_MS = 10_000;
/** After the time limit, how long the stage gets to report before it is killed outright. */
const TIMEOUT_KILL_GRACE_MS = 60_000;

/**
 * Kills the process `afterMs` from now from a worker thread: it fires even when the main
 * thread is stuck in synchronous work (a runaway regular expression on hostile input), where
 * the main thread's own timers never would. The task then exits 137 without a report, which
 * fails its run too.
 */
function hardDeadline(afterMs: number): Worker {
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     setTimeout(() => process.kill(workerData.pid, 'SIGKILL'), workerData.afterMs);`,
    { eval: true, workerData: { pid: process.pid, afterMs } },
  );
  worker.unref();
  return worker;
}

export async function runJob(stage: Stage, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  await loadDotenv();
  let config;
  try {
    config = readConfig(JOB_ENV, env);
  } catch (error) {
    process.stderr.write(`cartpipe ${stage}: ${describeError(error)}\n`);
    return EXIT.failed;
  }
  const log = createLogger(config.CARTPIPE_LOG_LEVEL, { stage, runId: config.RUN_ID });
  const stop = new AbortController();
  process.once('SIGTERM', () => {
    // ECS sends SIGTERM, then SIGKILL after the stop timeout. Outputs become visible only with a
    // SUCCEEDED report and a retry rewrites the same keys, so stopping loses nothing; the
    // report written now says the attempt was stopped rather than leaving the last one's.
    log.warn('SIGTERM received: reporting the stop and leaving');
    stop.abort(
      new StageStoppedError(
        'stage_stopped',
        `the ${stage} stage was stopped (SIGTERM) before it finished; its partial outputs are not visible to readers and a new attempt rewrites them`,
      ),
    );
    setTimeout(() => process.exit(EXIT.killed), STOP_REPORT_GRACE_MS).unref();
  });
  const limitSeconds = config.CARTPIPE_STAGE_TIMEOUT_SECONDS;
  const limit = setTimeout(() => {
    log.error('stage time limit reached: reporting and leaving', { limitSeconds });
    stop.abort(
      new StageStoppedError(
        'stage_timeout',
        `the ${stage} stage ran longer than its ${limitSeconds} s limit (CARTPIPE_STAGE_TIMEOUT_SECONDS) and was stopped; its partial outputs are not visible to readers`,
      ),
    );
  }, limitSeconds * 1000);
  limit.unref();
  const deadline = hardDeadline(limitSeconds * 1000 + TIMEOUT_KILL_GRACE_MS);
  const stoppedBySigterm = () =>
    stop.signal.aborted && (stop.signal.reason as StageStoppedError).code === 'stage_stopped';
  let code: number;
  try {
    const store = openS3ObjectStore({ bucket: config.CARTPIPE_BUCKET, config });
    const dynamo = dynamoDocumentClient(config);
    const kpis = new DynamoDbKpiStore(dynamo, config.CARTPIPE_KPI_TABLE);
    const history = new DynamoDbHistoryStore(dynamo, config.CARTPIPE_HISTORY_TABLE);
    const report = await executeStage(stage, {
      store,
      kpis,
      history,
      config,
      log,
      signal: stop.signal,
    });
    code =
      report.status === 'SUCCEEDED'
        ? EXIT.succeeded
        : report.error?.code === 'stage_stopped'
          ? EXIT.killed
          : EXIT.failed;
  } catch (error) {
    // Only reached when even the report could not be written.
    log.error('stage could not report', {
      error: describeError(error),
      code: isCartpipeError(error) ? error.code : undefined,
    });
    code = stoppedBySigterm() ? EXIT.killed : EXIT.failed;
  }
  clearTimeout(limit);
  void deadline.terminate();
  if (stop.signal.aborted) {
    // The abandoned work (uploads, KPI writes) must not go on after the report: leave now.
    const exitCode = code;
    setImmediate(() => process.exit(exitCode));
  }
  return code;
}
