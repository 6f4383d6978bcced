/**
 * The scheduled sweep: the safety net for runs whose events were lost. The orchestrator moves a
 * run only when an event for it arrives; an event the platform gave up on (Lambda's retries of
 * an asynchronous invocation exhausted, an ECS STOPPED event never delivered) would leave its run
 * unfinished, and unnotified, for good. Every few minutes (an EventBridge schedule) the sweep
 * looks at the runs that are not finished and re-delivers, to the same orchestrator core, the
 * event the run is waiting for:
 * - a run still PENDING, a launch never recorded, or a terminal run never notified, long after
 *   its last change: the manifest's S3 event again (the core redoes what a crash left undone);
 * - a stage task whose STOPPED event never came, though its report says it finished: the
 *   STOPPED event, with the exit code its report implies;
 * - a stage task with neither, past the stage time limit plus the time the job takes to kill
 *   itself: a STOPPED event without a report, which fails the run (and notifies).
 * Everything it re-delivers is an event the core already handles idempotently, so a sweep
 * racing a late real event changes nothing.
 */
import { layout, type Stage } from '../contracts/layout.js';
import type { StageReport } from '../contracts/report.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../ports/object-store.js';
import { isTerminal, type RunRecord, type RunsLister } from '../ports/runs-store.js';
import {
  CONTAINER_NAME,
  s3ObjectCreatedEvent,
  startedByFor,
  type EcsTaskStateChangeEvent,
} from './events.js';
import type { Orchestrator } from './orchestrator.js';
import { readStageReport } from './run-report.js';

/** After its time limit a job gets this long to report and then kills itself (src/stages/job.ts). */
export const JOB_KILL_GRACE_MS = 60_000;

export interface SweepSettings {
  bucket: string;
  taskDefinitionPrefix: string;
  /** Work unfinished this long after the run last changed is presumed lost. */
  recoveryAfterMs: number;
  /** CARTPIPE_STAGE_TIMEOUT_SECONDS, in ms. */
  stageTimeoutMs: number;
}

export type SweepAction =
  | { kind: 'none' }
  | { kind: 'manifest'; why: string }
  | { kind: 'stopped'; stage: Stage; attempt: number; exitCode: number; why: string };

const age = (now: Date, at: string | undefined) =>
  at === undefined ? 0 : now.getTime() - Date.parse(at);

/**
 * What a run waits for, judged from the stored run (and, for a running task, its stage report).
 * @example sweepAction(run, undefined, settings, new Date()) // { kind: 'none' } for a fresh run
 */
export function sweepAction(
  run: RunRecord,
  report: StageReport | undefined,
  settings: SweepSettings,
  now: Date,
): SweepAction {
  const overdue = (at: string | undefined) => age(now, at) > settings.recoveryAfterMs;
  if (isTerminal(run.status)) {
    if (run.notification?.sentAt || !overdue(run.updatedAt)) return { kind: 'none' };
    return { kind: 'manifest', why: `${run.status} but never notified` };
  }
  if (run.status === 'PENDING' || !run.stage) {
    return overdue(run.updatedAt) ? { kind: 'manifest', why: 'still PENDING' } : { kind: 'none' };
  }
  const attempt = run.stages[run.stage]?.attempts.find((a) => a.attempt === run.attempt);
  if (!attempt || attempt.stoppedAt) return { kind: 'none' };
  if (!attempt.taskArn) {
    return overdue(attempt.launchAfter)
      ? { kind: 'manifest', why: `${run.stage}#${run.attempt} never recorded as launched` }
      : { kind: 'none' };
  }
  const reported =
    report?.runId === run.runId &&
    report.stage === run.stage &&
    Date.parse(report.finishedAt) >= Date.parse(attempt.launchAfter);
  if (reported) {
    if (!overdue(report.finishedAt)) return { kind: 'none' };
    const exitCode =
      report.status === 'SUCCEEDED' ? 0 : report.error?.code === 'stage_stopped' ? 124 : 1;
    return {
      kind: 'stopped',
      stage: run.stage,
      attempt: run.attempt,
      exitCode,
      why: `${run.stage}#${run.attempt} reported ${report.status} but its STOPPED event never came`,
    };
  }
  const limit = settings.stageTimeoutMs + JOB_KILL_GRACE_MS + settings.recoveryAfterMs;
  if (age(now, attempt.launchAfter) <= limit) return { kind: 'none' };
  return {
    kind: 'stopped',
    stage: run.stage,
    attempt: run.attempt,
    // What a container killed by SIGKILL reports.
    exitCode: 137,
    why: `${run.stage}#${run.attempt}: no STOPPED event and no report ${Math.round(limit / 1000)} s after its launch (the stage time limit passed): presumed lost`,
  };
}

/** The STOPPED event ECS would have sent for the run's current task. */
export function stoppedEvent(
  run: RunRecord,
  stage: Stage,
  attempt: number,
  exitCode: number,
  why: string,
  taskDefinitionPrefix: string,
): EcsTaskStateChangeEvent {
  const family = `${taskDefinitionPrefix}-${stage}`;
  const taskArn =
    run.stages[stage]?.attempts.find((a) => a.attempt === attempt)?.taskArn ?? 'unknown';
  return {
    version: '0',
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    detail: {
      taskArn,
      group: `family:${family}`,
      lastStatus: 'STOPPED',
      startedBy: startedByFor(stage, attempt),
      stopCode: 'EssentialContainerExited',
      stoppedReason: `recovered by the sweep: ${why}`,
      containers: [{ name: CONTAINER_NAME, lastStatus: 'STOPPED', exitCode }],
      overrides: {
        containerOverrides: [
          { name: CONTAINER_NAME, environment: [{ name: 'RUN_ID', value: run.runId }] },
        ],
      },
    },
  };
}

/** The scheduled event that asks for a sweep (an EventBridge schedule rule's). */
export function isSweepEvent(event: unknown): boolean {
  const e = event as { source?: unknown; 'detail-type'?: unknown } | null;
  return e?.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

export interface SweepDeps {
  lister: RunsLister;
  store: ObjectStore;
  orchestrator: Orchestrator;
  settings: SweepSettings;
  log: Logger;
  clock?: () => Date;
}

export interface SweepResult {
  /** Runs not finished (or not notified) that were looked at. */
  open: number;
  /** What was re-delivered, as "<run id>: <why>". */
  redelivered: string[];
  /** Re-deliveries that failed (the next sweep tries again). */
  failed: string[];
}

/**
 * Looks at every unfinished run once and re-delivers what each is waiting for. Never throws for
 * one run's trouble: the next sweep tries again.
 * @example await sweepRuns({ lister, store, orchestrator, settings, log });
 */
export async function sweepRuns(deps: SweepDeps): Promise<SweepResult> {
  const now = (deps.clock ?? (() => new Date()))();
  const result: SweepResult = { open: 0, redelivered: [], failed: [] };
  const runs = (await deps.lister.list(Number.MAX_SAFE_INTEGER)).filter(
    (run) => !isTerminal(run.status) || !run.notification?.sentAt,
  );
  for (const run of runs) {
    result.open += 1;
    try {
      const report =
        run.stage && !isTerminal(run.status)
          ? await readStageReport(deps.store, layout.stageReport(run.runId, run.stage))
          : undefined;
      const action = sweepAction(run, report, deps.settings, now);
      if (action.kind === 'none') continue;
      deps.log.warn('sweep: re-delivering a lost event', { runId: run.runId, why: action.why });
      result.redelivered.push(`${run.runId}: ${action.why}`);
      await deps.orchestrator.handle(
        action.kind === 'manifest'
          ? s3ObjectCreatedEvent(deps.settings.bucket, run.manifestKey, run.manifestEtag)
          : stoppedEvent(
              run,
              action.stage,
              action.attempt,
              action.exitCode,
              action.why,
              deps.settings.taskDefinitionPrefix,
            ),
      );
    } catch (error) {
      deps.log.error('sweep: run not recovered', { runId: run.runId, error: describeError(error) });
      result.failed.push(`${run.runId}: ${describeError(error)}`);
    }
  }
  return result;
}
