/**
 * Shared pieces of the orchestration tests: the local runtime with the orchestrator wired to it,
 * the small real thelook sample, and a launcher double at the ECS edge (the one AWS service
 * the local servers do not serve) whose tasks stop only when the test says so.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expandPaths, submitBatch } from '../../src/cli/submit.js';
import { readNotifications } from '../../src/adapters/local/file-notifier.js';
import {
  startLocalOrchestration,
  type LocalOrchestration,
  type LocalOrchestrationOptions,
} from '../../src/adapters/local/local-orchestration.js';
import type { Stage } from '../../src/contracts/layout.js';
import { silentLogger } from '../../src/log.js';
import {
  CONTAINER_NAME,
  type EcsTaskStateChangeEvent,
  s3ObjectCreatedEvent,
} from '../../src/orchestrator/events.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import type { Notifier, RunNotification } from '../../src/ports/notifier.js';
import { isTerminal, type RunRecord } from '../../src/ports/runs-store.js';
import type { LaunchRequest, LaunchResult, TaskLauncher } from '../../src/ports/task-launcher.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

/** The shipped sample: 150 orders, 422 items, 417 products (see its SOURCE.md). */
export const SAMPLE = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  '..',
  'fixtures',
  'thelook-sample',
);

/** Data rows of a CSV file, counted apart from any code under test. */
export function csvRows(path: string): number {
  return (
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '').length - 1
  );
}

export interface Harness {
  t: TestRuntime;
  orchestration: LocalOrchestration;
  /** Backoff waits the orchestrator asked for (the tests do not wait them). */
  delays: number[];
  /** Puts the sample (or `files`) and its manifest into the local bucket; returns the run id. */
  submit(
    batch: string,
    paths?: string[],
  ): Promise<{ runId: string; manifestKey: string; etag: string }>;
  /** The S3 event of a manifest, as S3 would deliver it again. */
  manifestEvent(key: string, etag: string): unknown;
  /** Polls the runs table until the run is terminal and notified. */
  settled(runId: string): Promise<RunRecord>;
  notifications(runId: string): ReturnType<typeof readNotifications>;
  stop(): Promise<void>;
}

export async function startHarness(
  options: Omit<LocalOrchestrationOptions, 'env'> & { env?: Record<string, string> } = {},
): Promise<Harness> {
  const t = await startTestRuntime();
  const delays: number[] = [];
  const orchestration = startLocalOrchestration(t.runtime, {
    log: silentLogger,
    sleep: async (ms) => {
      delays.push(ms);
    },
    retryDelaysMs: [50, 100],
    stopGraceMs: 2000,
    ...options,
    env: {
      CARTPIPE_REJECT_THRESHOLD: '0.5',
      CARTPIPE_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  const harness: Harness = {
    t,
    orchestration,
    delays,
    async submit(batch, paths = [SAMPLE]) {
      const submitted = await submitBatch(t.store, {
        dataset: 'thelook',
        batch,
        files: expandPaths(paths),
      });
      const runId = runIdOf({ key: submitted.manifestKey, etag: submitted.manifestEtag });
      return { runId, manifestKey: submitted.manifestKey, etag: submitted.manifestEtag };
    },
    manifestEvent: (key, etag) => s3ObjectCreatedEvent(t.runtime.bucket, key, etag),
    async settled(runId) {
      for (let polls = 0; polls < 2400; polls++) {
        const run = await orchestration.runs.get(runId);
        if (run && isTerminal(run.status) && run.notification?.sentAt) return run;
        await new Promise((next) => setTimeout(next, 50));
      }
      throw new Error(
        `run ${runId} did not settle: ${JSON.stringify(await orchestration.runs.get(runId))}`,
      );
    },
    notifications: (runId) => readNotifications(orchestration.notificationsDir, runId),
    async stop() {
      await orchestration.stop();
      await t.stop();
    },
  };
  return harness;
}

/**
 * The ECS edge as a double: `launch` answers like RunTask (started, or refused as with
 * `failures[]`), remembers client tokens as ECS does, and never stops a task by itself; the test
 * builds each STOPPED event with {@link ScriptedLauncher.stopped} and delivers it when and as
 * often as it likes.
 */
export class ScriptedLauncher implements TaskLauncher {
  readonly requests: LaunchRequest[] = [];
  private readonly tasks = new Map<string, string>();
  /** Answers for the next launches (default: started). */
  readonly answers: (LaunchResult | 'start' | 'hang')[] = [];
  private next = 0;

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    this.requests.push(request);
    const known = this.tasks.get(request.clientToken);
    if (known) return { started: true, taskArn: known };
    const answer = this.answers.shift() ?? 'start';
    if (answer === 'hang') return new Promise<LaunchResult>(() => undefined);
    if (answer !== 'start') return answer;
    const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/cartpipe/${(this.next++).toString(16).padStart(32, '0')}`;
    this.tasks.set(request.clientToken, taskArn);
    return { started: true, taskArn };
  }

  /** Distinct tasks started, as "<stage>#<attempt>". */
  get started(): string[] {
    const seen = new Set<string>();
    for (const r of this.requests)
      if (this.tasks.has(r.clientToken)) seen.add(`${r.stage}#${r.attempt}`);
    return [...seen];
  }

  /** The request that launched `stage` attempt `attempt`. */
  request(stage: Stage, attempt = 1): LaunchRequest {
    const found = this.requests.find((r) => r.stage === stage && r.attempt === attempt);
    if (!found) throw new Error(`${stage}#${attempt} was never launched`);
    return found;
  }

  /** The STOPPED event ECS sends for that task: with the exit code, or none (never started). */
  stopped(
    request: LaunchRequest,
    end: { exitCode?: number; stopCode?: string; stoppedReason?: string } = { exitCode: 0 },
  ): EcsTaskStateChangeEvent {
    const family = `cartpipe-${request.stage}`;
    return {
      version: '0',
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      detail: {
        taskArn: this.tasks.get(request.clientToken) ?? 'arn:aws:ecs:us-east-1:1:task/x/none',
        taskDefinitionArn: `arn:aws:ecs:us-east-1:123456789012:task-definition/${family}:7`,
        group: `family:${family}`,
        lastStatus: 'STOPPED',
        startedBy: request.startedBy,
        stopCode: end.stopCode ?? 'EssentialContainerExited',
        stoppedReason: end.stoppedReason ?? 'Essential container in task exited',
        containers: [
          {
            name: CONTAINER_NAME,
            lastStatus: 'STOPPED',
            ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
          },
        ],
        overrides: {
          containerOverrides: [
            { name: CONTAINER_NAME, environment: [{ name: 'RUN_ID', value: request.runId }] },
          ],
        },
      },
    };
  }
}

/** Wraps a notifier so that chosen publishes fail or never return (a Lambda that died). */
export class FaultyNotifier implements Notifier {
  readonly faults: ('fail' | 'hang')[] = [];
  attempts = 0;

  constructor(private readonly target: () => Notifier) {}

  async publish(notification: RunNotification) {
    this.attempts++;
    const fault = this.faults.shift();
    if (fault === 'fail') throw new Error('SNS is unavailable');
    if (fault === 'hang') return new Promise<{ messageId: string }>(() => undefined);
    return this.target().publish(notification);
  }
}
