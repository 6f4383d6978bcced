/**
 * The orchestrator wired to the local runtime, standing in for S3 notifications, Lambda,
 * EventBridge, ECS and SNS: s3rver's object-created events and the local launcher's STOPPED
 * events are delivered to the same Orchestrator core the Lambda runs, asynchronously and with
 * Lambda's retry policy for asynchronous invocations (two retries, then the failure queue,
 * here <data dir>/failed-events/).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JOB_ENV, ORCHESTRATOR_ENV, readConfig } from '../../config.js';
import { describeError } from '../../errors.js';
import { createLogger, type Logger } from '../../log.js';
import { CONTAINER_NAME, s3ObjectCreatedEvent, startedByFor } from '../../orchestrator/events.js';
import {
  Orchestrator,
  settingsFrom,
  type OrchestratorSettings,
} from '../../orchestrator/orchestrator.js';
import { sweepRuns, type SweepResult } from '../../orchestrator/sweep.js';
import type { Notifier } from '../../ports/notifier.js';
import { isTerminal, type RunRecord } from '../../ports/runs-store.js';
import type { TaskLauncher } from '../../ports/task-launcher.js';
import { dynamoDocumentClient, s3Client } from '../aws/clients.js';
import { DynamoDbRunsLister } from '../aws/dynamodb-runs-list.js';
import { DynamoDbRunsStore } from '../aws/dynamodb-runs-store.js';
import { S3ObjectStore } from '../aws/s3-object-store.js';
import { FileNotifier } from './file-notifier.js';
import { LOCAL_ACCOUNT, LOCAL_CLUSTER, LocalTaskLauncher } from './local-launcher.js';
import { LOCAL_CREDENTIALS, type LocalRuntime } from './local-runtime.js';

export interface LocalOrchestrationOptions {
  /** Where the notification text goes for a person (default: nowhere; files are always written). */
  print?: (text: string) => void;
  log?: Logger;
  onChange?: (run: RunRecord) => void;
  /** Process environment to take job and orchestrator settings from (default process.env). */
  env?: Record<string, string | undefined>;
  /** Test seams at the AWS edges and the clock. */
  launcher?: TaskLauncher;
  notifier?: Notifier;
  settings?: Partial<OrchestratorSettings>;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  clock?: () => Date;
  /** Waits before the retries of a failed delivery (Lambda: about 1 and 2 minutes). */
  retryDelaysMs?: readonly number[];
  /** How long stop() waits for handlers still working (one stuck on a call is abandoned). */
  stopGraceMs?: number;
  /** Sweep for lost events this often (ms), as the Lambda's schedule does; off when absent. */
  sweepEveryMs?: number;
}

export interface LocalOrchestration {
  orchestrator: Orchestrator;
  runs: DynamoDbRunsStore;
  lister: DynamoDbRunsLister;
  /** The real local launcher (its jobs are child processes), even when a test swapped it. */
  localLauncher: LocalTaskLauncher;
  notificationsDir: string;
  settings: OrchestratorSettings;
  /** Hands an event to the handler as the platform would: asynchronously, retried on error. */
  deliver(event: unknown): void;
  /** Resolves when no event is being handled and no job is running. */
  idle(): Promise<void>;
  /**
   * Restarts runs a previous process left unfinished: a pending run's manifest is delivered
   * again; a stage whose job died with that process gets a STOPPED event without exit code,
   * so it is relaunched like a task that never started (bounded by the launch attempts).
   * @returns the runs resumed
   */
  resume(): Promise<RunRecord[]>;
  /** One sweep for runs whose events were lost (src/orchestrator/sweep.ts). */
  sweep(): Promise<SweepResult>;
  /** Stops jobs (their runs are resumed by the next start) and waits for handlers to finish. */
  stop(): Promise<void>;
}

/** Job settings of this process passed on to the jobs, as a task definition's environment. */
function taskEnvironment(
  runtime: LocalRuntime,
  env: Record<string, string | undefined>,
): Record<string, string> {
  const out: Record<string, string> = { ...runtime.env };
  for (const name of Object.keys(JOB_ENV)) {
    const value = env[name];
    if (name !== 'RUN_ID' && !(name in runtime.env) && value !== undefined && value !== '')
      out[name] = value;
  }
  return out;
}

/**
 * Starts handling the runtime's events.
 * @example
 * const orchestration = startLocalOrchestration(runtime, { print: console.log });
 * // put files and a manifest into runtime.bucket: the run starts by itself
 * await orchestration.stop();
 */
export function startLocalOrchestration(
  runtime: LocalRuntime,
  options: LocalOrchestrationOptions = {},
): LocalOrchestration {
  const env = options.env ?? process.env;
  const config = readConfig(ORCHESTRATOR_ENV, { ...env, ...runtime.env });
  const settings: OrchestratorSettings = { ...settingsFrom(config), ...options.settings };
  const log = options.log ?? createLogger(config.CARTPIPE_LOG_LEVEL, { component: 'orchestrator' });
  const clientConfig = {
    ...config, // retry and timeout settings (CARTPIPE_AWS_*) as the Lambda gets them
    AWS_ENDPOINT_URL_S3: runtime.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: runtime.dynamoDbEndpoint,
  };
  const documents = dynamoDocumentClient(clientConfig, LOCAL_CREDENTIALS);
  const runs = new DynamoDbRunsStore(documents, config.CARTPIPE_RUNS_TABLE);
  const lister = new DynamoDbRunsLister(documents, config.CARTPIPE_RUNS_TABLE);
  const store = new S3ObjectStore(s3Client(clientConfig, LOCAL_CREDENTIALS), runtime.bucket);
  const notificationsDir = join(runtime.dataDir, 'notifications');
  const retryDelays = options.retryDelaysMs ?? [1000, 2000];

  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  const deliver = (event: unknown) => {
    if (stopping) return;
    track(
      (async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            await orchestrator.handle(event);
            return;
          } catch (error) {
            const wait = retryDelays[attempt];
            if (wait === undefined || stopping) {
              log.error('event dropped after retries', { error: describeError(error) });
              const dir = join(runtime.dataDir, 'failed-events');
              mkdirSync(dir, { recursive: true });
              const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
              writeFileSync(file, JSON.stringify({ error: describeError(error), event }, null, 2));
              return;
            }
            log.warn('event handling failed: retrying', { error: describeError(error), wait });
            await new Promise((next) => setTimeout(next, wait));
          }
        }
      })(),
    );
  };

  const localLauncher = new LocalTaskLauncher({
    env: taskEnvironment(runtime, env),
    region: config.AWS_REGION,
    taskDefinitionPrefix: settings.taskDefinitionPrefix,
    onStopped: deliver,
    logDir: join(runtime.dataDir, 'logs'),
  });
  const orchestrator = new Orchestrator({
    runs,
    store,
    launcher: options.launcher ?? localLauncher,
    notifier: options.notifier ?? new FileNotifier(notificationsDir, options.print),
    settings,
    log,
    ...(options.onChange ? { onChange: options.onChange } : {}),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });

  runtime.onObjectCreated((record) => {
    const { key, eTag } = record.s3.object;
    deliver(s3ObjectCreatedEvent(record.s3.bucket.name, key, eTag, config.AWS_REGION));
  });

  const sweep = () =>
    sweepRuns({
      lister,
      store,
      orchestrator,
      settings: {
        bucket: runtime.bucket,
        taskDefinitionPrefix: settings.taskDefinitionPrefix,
        recoveryAfterMs: settings.recoveryAfterMs,
        stageTimeoutMs: config.CARTPIPE_STAGE_TIMEOUT_SECONDS * 1000,
      },
      log,
      ...(options.clock ? { clock: options.clock } : {}),
    });
  const sweeping = options.sweepEveryMs
    ? setInterval(() => {
        // Tracked like a delivered event, so stop() waits for it; a failed sweep is logged and
        // the next one tries again (as a failed scheduled Lambda invocation would).
        if (!stopping)
          track(
            sweep().then(
              () => undefined,
              (error: unknown) => log.error('sweep failed', { error: describeError(error) }),
            ),
          );
      }, options.sweepEveryMs)
    : undefined;
  sweeping?.unref();

  const idle = async () => {
    while (inFlight.size > 0 || localLauncher.running > 0) {
      await Promise.allSettled([...inFlight]);
      await localLauncher.idle();
    }
  };

  return {
    orchestrator,
    runs,
    lister,
    localLauncher,
    notificationsDir,
    settings,
    deliver,
    idle,
    async resume() {
      const unfinished = (await lister.list(Number.MAX_SAFE_INTEGER)).filter(
        (run) => !isTerminal(run.status),
      );
      for (const run of unfinished) {
        if (run.status === 'PENDING' || !run.stage) {
          deliver(
            s3ObjectCreatedEvent(
              runtime.bucket,
              run.manifestKey,
              run.manifestEtag,
              config.AWS_REGION,
            ),
          );
          continue;
        }
        const family = `${settings.taskDefinitionPrefix}-${run.stage}`;
        const attempt = run.stages[run.stage]?.attempts.find((a) => a.attempt === run.attempt);
        deliver({
          'detail-type': 'ECS Task State Change',
          source: 'aws.ecs',
          detail: {
            taskArn:
              attempt?.taskArn ??
              `arn:aws:ecs:${config.AWS_REGION}:${LOCAL_ACCOUNT}:task/${LOCAL_CLUSTER}/lost`,
            taskDefinitionArn: `arn:aws:ecs:${config.AWS_REGION}:${LOCAL_ACCOUNT}:task-definition/${family}:1`,
            lastStatus: 'STOPPED',
            startedBy: startedByFor(run.stage, run.attempt),
            stopCode: 'TaskFailedToStart',
            stoppedReason: 'HostTerminated: the local runtime stopped before the task reported',
            overrides: {
              containerOverrides: [
                { name: CONTAINER_NAME, environment: [{ name: 'RUN_ID', value: run.runId }] },
              ],
            },
          },
        });
      }
      return unfinished;
    },
    sweep,
    async stop() {
      stopping = true;
      clearInterval(sweeping);
      await localLauncher.stop();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((done) => {
          timer = setTimeout(done, options.stopGraceMs ?? 30_000);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
