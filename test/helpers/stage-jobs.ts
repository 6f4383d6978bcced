/**
 * Runs stage jobs as child processes (the compiled dist/jobs entry points, as a Fargate task
 * would) with their S3 and DynamoDB traffic through fault proxies, and can kill a job at its
 * k-th request: before the request reaches the server ('before') or after the server acted on
 * it but before the job learns the answer ('after'). Needs `npm run build`.
 */
import { runJobProcess, type JobExit } from '../../src/adapters/local/job-process.js';
import type { Stage } from '../../src/contracts/layout.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from './fault-proxy.js';
import type { TestRuntime } from './local.js';

export interface ProxiedEndpoints {
  s3: FaultProxy;
  dynamodb: FaultProxy;
  /** Job environment aimed at the proxies. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Proxies (no faults unless asked) in front of a test runtime's servers. */
export async function proxyRuntime(
  t: TestRuntime,
  options: { seed?: number; stallMs?: number } = {},
): Promise<ProxiedEndpoints> {
  const seed = options.seed ?? 1;
  const s3 = await startFaultProxy({
    service: 's3',
    target: t.runtime.s3Endpoint,
    seed,
    stallMs: options.stallMs ?? 3000,
  });
  const dynamodb = await startFaultProxy({
    service: 'dynamodb',
    target: t.runtime.dynamoDbEndpoint,
    seed: seed + 1,
    stallMs: options.stallMs ?? 3000,
  });
  return {
    s3,
    dynamodb,
    env: {
      ...t.runtime.env,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.url,
    },
    async close() {
      await s3.close();
      await dynamodb.close();
    },
  };
}

export type KillMode = 'before' | 'after';

export interface KillPlan {
  /** The job's k-th S3 or DynamoDB request (1-based, both services counted together). */
  at: number;
  mode: KillMode;
  signal?: NodeJS.Signals;
}

export interface StageRun {
  exit: JobExit;
  /** S3 + DynamoDB requests the job made. */
  requests: number;
  /** The request the kill was aimed at, when it was reached. */
  killedAt?: ProxiedRequest & { service: 's3' | 'dynamodb' };
}

/**
 * Runs one stage job through the proxies; with `kill`, signals it at that request.
 * @example await runStage('validate', proxies, { RUN_ID: runId }, { at: 40, mode: 'after' })
 */
export async function runStage(
  stage: Stage,
  proxies: ProxiedEndpoints,
  env: Record<string, string>,
  kill?: KillPlan,
): Promise<StageRun> {
  let requests = 0;
  let killedAt: StageRun['killedAt'];
  let killer: ((signal: NodeJS.Signals) => void) | undefined;
  const signal = () => killer?.(kill?.signal ?? 'SIGKILL');
  const hookFor = (service: 's3' | 'dynamodb') => (request: ProxiedRequest) => {
    requests += 1;
    if (!kill || requests !== kill.at) return 'pass' as const;
    killedAt = { ...request, service };
    if (kill.mode === 'before') {
      signal();
      return 'hold' as const;
    }
    return 'withhold' as const;
  };
  proxies.s3.setHook(hookFor('s3'), signal);
  proxies.dynamodb.setHook(hookFor('dynamodb'), signal);
  try {
    const exit = await runJobProcess(stage, {
      env: { ...proxies.env, CARTPIPE_LOG_LEVEL: 'warn', ...env },
      onSpawn: (_pid, k) => {
        killer = k;
      },
    });
    return { exit, requests, ...(killedAt ? { killedAt } : {}) };
  } finally {
    proxies.s3.setHook(undefined);
    proxies.dynamodb.setHook(undefined);
  }
}
