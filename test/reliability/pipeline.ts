/**
 * The whole pipeline on the local runtime with every AWS call behind a fault proxy: the
 * orchestrator (the core the Lambda runs) with its real adapters (S3, DynamoDB runs store,
 * EcsTaskLauncher, SnsNotifier and their SDK clients), the jobs' S3 and DynamoDB clients, and
 * SNS/ECS served by the local edge (Publish recorded, RunTask running the stage job). Faults are
 * drawn per HTTP request from seeded generators, one per service.
 */
import { dynamoDocumentClient, s3Client } from '../../src/adapters/aws/clients.js';
import { DynamoDbHistoryStore } from '../../src/adapters/aws/dynamodb-history-store.js';
import { DynamoDbKpiStore } from '../../src/adapters/aws/dynamodb-kpi-store.js';
import { DynamoDbRunsStore } from '../../src/adapters/aws/dynamodb-runs-store.js';
import { ecsClient, EcsTaskLauncher } from '../../src/adapters/aws/ecs-launcher.js';
import { S3ObjectStore } from '../../src/adapters/aws/s3-object-store.js';
import { snsClient, SnsNotifier } from '../../src/adapters/aws/sns-notifier.js';
import { LOCAL_TOPIC_ARN } from '../../src/adapters/local/file-notifier.js';
import { runJobProcess } from '../../src/adapters/local/job-process.js';
import { LocalTaskLauncher } from '../../src/adapters/local/local-launcher.js';
import {
  startLocalOrchestration,
  type LocalOrchestration,
} from '../../src/adapters/local/local-orchestration.js';
import { LOCAL_CREDENTIALS, type LocalRuntime } from '../../src/adapters/local/local-runtime.js';
import { submitBatch, type LocalFile } from '../../src/cli/submit.js';
import { JOB_ENV, readConfig, STORAGE_ENV } from '../../src/config.js';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import type { EcsTaskStateChangeEvent } from '../../src/orchestrator/events.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import { isTerminal, type RunRecord } from '../../src/ports/runs-store.js';
import { executeStage } from '../../src/stages/run-stage.js';
import {
  evenRates,
  startFaultProxy,
  type FaultKind,
  type FaultProxy,
  type ProxiedRequest,
  type ProxiedService,
} from '../helpers/fault-proxy.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import {
  startLocalAwsEdge,
  type LocalAwsEdge,
  type PublishedMessage,
} from '../helpers/local-aws-edge.js';

export interface PipelineOptions {
  /** Fault probability per AWS request (spread over the four kinds) and the plan's seed. */
  faults?: { rate: number; seed: number };
  /** Run the stage jobs in this process instead of as child processes (much cheaper). */
  inProcessJobs?: boolean;
  /** Job and orchestrator variables. */
  env?: Record<string, string>;
  /** S3 ObjectCreated events to lose, by object key. */
  loseObjectCreated?: (key: string) => boolean;
  /** STOPPED events to lose (never delivered), as EventBridge or a failed Lambda might. */
  loseEvent?: (event: EcsTaskStateChangeEvent) => boolean;
  /** Where the orchestrator logs (default: nowhere; RELIABILITY_LOG=<file> to debug a test). */
  log?: Logger;
  /** Requests the S3/DynamoDB proxies hold for good (a stage stuck on a call). */
  hold?: (service: ProxiedService, request: ProxiedRequest) => boolean;
}

export interface Pipeline {
  t: TestRuntime;
  orchestration: LocalOrchestration;
  edge: LocalAwsEdge;
  proxies: Record<ProxiedService, FaultProxy>;
  /** Puts a batch (files, then manifest) as a user would, outside the faults. */
  submit(batch: string, files: readonly LocalFile[]): Promise<string>;
  /** Waits until every run is terminal and notified (read outside the faults). */
  settled(runIds: readonly string[], timeoutMs?: number): Promise<RunRecord[]>;
  /** STOPPED events lost on purpose (options.loseEvent). */
  lost: readonly EcsTaskStateChangeEvent[];
  /** Stage jobs started, by "<run id>/<stage>". */
  jobRuns: ReadonlyMap<string, number>;
  /** SNS messages about a batch. */
  messages(batch: string): PublishedMessage[];
  faults(): Record<ProxiedService, Record<FaultKind, number>>;
  stop(): Promise<void>;
}

/** Settings of every pipeline test: quick relaunches, quiet jobs. */
const TEST_ENV = {
  CARTPIPE_REJECT_THRESHOLD: '0.5',
  CARTPIPE_LOG_LEVEL: 'error',
  CARTPIPE_LAUNCH_BACKOFF_MS: '100',
  CARTPIPE_LAUNCH_BACKOFF_MAX_MS: '500',
};
/**
 * With faults, short socket timeouts so that a stalled request costs seconds, not a minute;
 * long enough that a busy test process (servers, proxies and orchestrator share its event loop)
 * is not mistaken for a stalled server.
 */
const FAULT_ENV = {
  CARTPIPE_AWS_MAX_ATTEMPTS: '6',
  CARTPIPE_AWS_CONNECT_TIMEOUT_MS: '3000',
  CARTPIPE_AWS_SOCKET_TIMEOUT_MS: '3000',
};

/** The job as the local launcher's process runner, but in this process (same stage code). */
const inProcessJob: typeof runJobProcess = async (stage, { env }) => {
  const config = readConfig(JOB_ENV, env);
  const credentials = {
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
  };
  const s3 = s3Client(config, credentials);
  const dynamo = dynamoDocumentClient(config, credentials);
  try {
    const report = await executeStage(stage, {
      store: new S3ObjectStore(s3, config.CARTPIPE_BUCKET),
      kpis: new DynamoDbKpiStore(dynamo, config.CARTPIPE_KPI_TABLE),
      history: new DynamoDbHistoryStore(dynamo, config.CARTPIPE_HISTORY_TABLE),
      config,
      log: silentLogger,
    });
    return { exitCode: report.status === 'SUCCEEDED' ? 0 : 1, signal: null, stderrTail: [] };
  } catch {
    return { exitCode: 1, signal: null, stderrTail: [] };
  } finally {
    s3.destroy();
    dynamo.destroy();
  }
};

export async function startPipeline(options: PipelineOptions = {}): Promise<Pipeline> {
  const t = await startTestRuntime();
  const seed = options.faults?.seed ?? 1;
  const rates = evenRates(options.faults?.rate ?? 0);
  const env: Record<string, string> = {
    ...TEST_ENV,
    ...(options.faults ? FAULT_ENV : {}),
    ...options.env,
  };
  const retry = readConfig(STORAGE_ENV, { ...env, CARTPIPE_BUCKET: t.runtime.bucket });
  const stallMs = retry.CARTPIPE_AWS_SOCKET_TIMEOUT_MS + 1000;
  const hold = options.hold;
  const proxy = (service: ProxiedService, target: string, offset: number) =>
    startFaultProxy({
      service,
      target,
      seed: seed * 10 + offset,
      rates,
      stallMs,
      ambiguousDrops: service !== 'sns',
      ...(hold ? { onRequest: (r) => (hold(service, r) ? 'hold' : undefined) } : {}),
    });
  let jobs: LocalTaskLauncher | undefined;
  const edge = await startLocalAwsEdge({
    launcher: () => jobs!,
    taskDefinitionPrefix: 'cartpipe',
  });
  const proxies: Record<ProxiedService, FaultProxy> = {
    s3: await proxy('s3', t.runtime.s3Endpoint, 1),
    dynamodb: await proxy('dynamodb', t.runtime.dynamoDbEndpoint, 2),
    sns: await proxy('sns', edge.url, 3),
    ecs: await proxy('ecs', edge.url, 4),
  };
  const runtime: LocalRuntime = {
    dataDir: t.runtime.dataDir,
    bucket: t.runtime.bucket,
    s3Endpoint: proxies.s3.url,
    dynamoDbEndpoint: proxies.dynamodb.url,
    env: {
      ...t.runtime.env,
      AWS_ENDPOINT_URL_S3: proxies.s3.url,
      AWS_ENDPOINT_URL_DYNAMODB: proxies.dynamodb.url,
    },
    onObjectCreated: (listener) =>
      t.runtime.onObjectCreated((record) => {
        if (!options.loseObjectCreated?.(record.s3.object.key)) listener(record);
      }),
    stop: async () => undefined,
  };
  const debugFile = process.env.RELIABILITY_LOG;
  const orchestration: LocalOrchestration = startLocalOrchestration(runtime, {
    log:
      options.log ??
      (debugFile
        ? createLogger('debug', {}, (line) => appendFileSync(debugFile, `${line}\n`))
        : silentLogger),
    env,
    launcher: new EcsTaskLauncher(
      ecsClient('us-east-1', proxies.ecs.url, LOCAL_CREDENTIALS, retry),
      {
        cluster: 'cartpipe-local',
        taskDefinitionPrefix: 'cartpipe',
        subnets: ['subnet-local'],
        securityGroups: [],
        assignPublicIp: 'DISABLED',
      },
    ),
    notifier: new SnsNotifier(
      snsClient('us-east-1', proxies.sns.url, LOCAL_CREDENTIALS, retry),
      LOCAL_TOPIC_ARN,
    ),
    // Lambda retries a failed asynchronous invocation after about 1 and 2 minutes; shorter here.
    retryDelaysMs: [2000, 5000],
    stopGraceMs: 5000,
  });
  const jobEnv: Record<string, string> = { ...runtime.env };
  for (const name of Object.keys(JOB_ENV)) if (env[name] !== undefined) jobEnv[name] = env[name];
  // The stage jobs, counted per run and stage: a stage run twice would show here.
  const jobRuns = new Map<string, number>();
  const lost: EcsTaskStateChangeEvent[] = [];
  const runner = options.inProcessJobs ? inProcessJob : runJobProcess;
  jobs = new LocalTaskLauncher({
    env: jobEnv,
    region: 'us-east-1',
    taskDefinitionPrefix: 'cartpipe',
    onStopped: (event) => {
      if (options.loseEvent?.(event)) lost.push(event);
      else orchestration!.deliver(event);
    },
    logDir: join(t.runtime.dataDir, 'logs'),
    runJob: (stage, job) => {
      const key = `${job.env.RUN_ID}/${stage}`;
      jobRuns.set(key, (jobRuns.get(key) ?? 0) + 1);
      return runner(stage, job);
    },
  });

  // The test reads the runs table directly, so its polling draws no faults.
  const direct = new DynamoDbRunsStore(
    dynamoDocumentClient(
      {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_S3: undefined,
        AWS_ENDPOINT_URL_DYNAMODB: t.runtime.dynamoDbEndpoint,
      },
      LOCAL_CREDENTIALS,
    ),
    t.runtime.env.CARTPIPE_RUNS_TABLE!,
  );

  return {
    t,
    orchestration,
    edge,
    proxies,
    jobRuns,
    lost,
    async submit(batch, files) {
      const submitted = await submitBatch(t.store, { dataset: 'thelook', batch, files });
      return runIdOf({ key: submitted.manifestKey, etag: submitted.manifestEtag });
    },
    async settled(runIds, timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const runs = await Promise.all(runIds.map((id) => direct.get(id)));
        if (runs.every((r) => r && isTerminal(r.status) && r.notification?.sentAt)) {
          await orchestration!.idle();
          return runs as RunRecord[];
        }
        if (Date.now() > deadline) {
          const open = runs.filter((r) => !(r && isTerminal(r.status) && r.notification?.sentAt));
          throw new Error(`runs not settled: ${JSON.stringify(open.slice(0, 3), null, 1)}`);
        }
        await new Promise((next) => setTimeout(next, 250));
      }
    },
    messages: (batch) =>
      edge.published.filter(
        (m) => m.subject.split(' ').includes(batch) && m.subject.includes(' batch '),
      ),
    faults: () =>
      Object.fromEntries(
        Object.entries(proxies).map(([service, p]) => [service, p.counts()]),
      ) as Record<ProxiedService, Record<FaultKind, number>>,
    async stop() {
      await orchestration!.stop();
      await jobs!.stop();
      for (const p of Object.values(proxies)) await p.close();
      await edge.close();
      await t.stop();
    },
  };
}
