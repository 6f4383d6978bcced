/**
 * The run state machine as pure functions: given the stored run and what happened, the next
 * record to write (compare-and-set on the one read) and the effect to perform once that write
 * has won. Nothing here does I/O, so every rule is testable from plain values.
 *
 *   PENDING -> UPLOADING -> VALIDATING -> COMPUTING -> SUCCEEDED, or FAILED from any of them.
 *
 * Safety under duplicated or reordered events comes from two rules:
 * - an event only moves a run when it matches the run's current (status, stage, attempt);
 *   anything else is stale and at most triggers {@link recover};
 * - the write is conditional on the version read, so of two handlers deciding from the same
 *   state only one wins and performs the effect (the launch or the notification).
 */
import type { Stage } from '../contracts/layout.js';
import { layout } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import {
  isTerminal,
  nextStage,
  STAGE_STATUS,
  type RunFailure,
  type RunRecord,
  type StageState,
  type TaskAttempt,
} from '../ports/runs-store.js';
import type { LaunchResult } from '../ports/task-launcher.js';
import type { TaskStopped } from './events.js';

export interface MachineSettings {
  /** Launches of a task that never starts before the run fails (>= 1). */
  maxLaunchAttempts: number;
  /** First retry waits up to this long; each later one up to twice the previous bound. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A launch or notification unfinished this long is presumed lost with a crashed handler. */
  recoveryAfterMs: number;
}

export type Effect =
  | { kind: 'launch'; stage: Stage; attempt: number; delayMs: number }
  /** Write runs/<run_id>/report.json and publish the one notification. */
  | { kind: 'finish' };

export type Decision =
  /**
   * Nothing to do now. `pending`: work another handler claimed is not done yet and not overdue;
   * if that handler died, this event's redelivery must come back after the recovery delay.
   */
  | { kind: 'ignore'; why: string; pending?: boolean }
  /** Write `next` (conditional on the run read); when that wins, perform `effect`. */
  | { kind: 'write'; next: RunRecord; effect?: Effect; note: string }
  /** Perform `effect` without a write (an idempotent launch left undone by a crash). */
  | { kind: 'effect'; effect: Effect; note: string };

/** The error a stage wrote in its report, when it wrote one. */
export interface StageError {
  code: string;
  message: string;
}

const iso = (now: Date) => now.toISOString();

function bump(run: RunRecord, now: Date, changes: Partial<RunRecord>): RunRecord {
  return { ...run, ...changes, version: run.version + 1, updatedAt: iso(now) };
}

/**
 * Delay before launch `attempt` of a task: none for the first, then "full jitter" exponential
 * backoff (uniform in [0, min(max, base * 2^(attempt-2))]) so that runs hit by the same
 * capacity shortage do not all come back at once.
 */
export function launchDelayMs(
  attempt: number,
  settings: Pick<MachineSettings, 'backoffBaseMs' | 'backoffMaxMs'>,
  random: () => number,
): number {
  if (attempt <= 1) return 0;
  const bound = Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** (attempt - 2));
  return Math.floor(random() * bound);
}

/** A new run, as created by the first event for its manifest object. */
export function newRun(runId: string, manifestKey: string, etag: string, now: Date): RunRecord {
  return {
    runId,
    version: 1,
    status: 'PENDING',
    attempt: 0,
    manifestKey,
    manifestEtag: etag,
    createdAt: iso(now),
    updatedAt: iso(now),
    stages: {},
  };
}

function withAttempt(
  run: RunRecord,
  stage: Stage,
  attempt: number,
  launchAfter: Date,
  now: Date,
): Partial<RunRecord> {
  const previous = run.stages[stage];
  const state: StageState = {
    status: 'RUNNING',
    startedAt: previous?.startedAt ?? iso(now),
    attempts: [...(previous?.attempts ?? []), { attempt, launchAfter: iso(launchAfter) }],
  };
  return { status: STAGE_STATUS[stage], stage, attempt, stages: { ...run.stages, [stage]: state } };
}

function launching(
  run: RunRecord,
  stage: Stage,
  attempt: number,
  delayMs: number,
  now: Date,
  note: string,
  extra: Partial<RunRecord> = {},
): Decision {
  const launchAfter = new Date(now.getTime() + delayMs);
  const next = bump(run, now, {
    ...extra,
    ...withAttempt({ ...run, ...extra }, stage, attempt, launchAfter, now),
  });
  return { kind: 'write', next, effect: { kind: 'launch', stage, attempt, delayMs }, note };
}

function updateAttempt(
  run: RunRecord,
  stage: Stage,
  attempt: number,
  change: Partial<TaskAttempt>,
): RunRecord['stages'] {
  const state = run.stages[stage];
  if (!state) return run.stages;
  const attempts = state.attempts.map((a) => (a.attempt === attempt ? { ...a, ...change } : a));
  return { ...run.stages, [stage]: { ...state, attempts } };
}

function terminal(
  run: RunRecord,
  now: Date,
  status: 'SUCCEEDED' | 'FAILED',
  stages: RunRecord['stages'],
  failure: RunFailure | undefined,
  note: string,
): Decision {
  const next = bump(run, now, {
    status,
    stages,
    finishedAt: iso(now),
    reportKey: layout.runReport(run.runId),
    // Winning this write is what entitles a handler to publish: the claim comes with it.
    notification: { claimedAt: iso(now) },
    ...(failure ? { failure } : {}),
  });
  return { kind: 'write', next, effect: { kind: 'finish' }, note };
}

/** PENDING -> UPLOADING once the manifest checked out and runs/<id>/manifest.json is written. */
export function startRun(run: RunRecord, manifest: RunManifest, now: Date): Decision {
  if (run.status !== 'PENDING') return { kind: 'ignore', why: `run is ${run.status}, not PENDING` };
  return launching(run, 'upload', 1, 0, now, 'manifest accepted: upload launched', {
    dataset: manifest.dataset,
    batch: manifest.batch,
  });
}

/** PENDING -> FAILED: the manifest is unusable; no stage runs, nothing else is written. */
export function rejectRun(
  run: RunRecord,
  error: StageError,
  details: { dataset?: string; batch?: string },
  now: Date,
): Decision {
  if (run.status !== 'PENDING') return { kind: 'ignore', why: `run is ${run.status}, not PENDING` };
  return terminal(
    { ...run, ...details },
    now,
    'FAILED',
    run.stages,
    { code: error.code, reason: error.message },
    `manifest rejected: ${error.code}`,
  );
}

const matches = (run: RunRecord, stage: Stage, attempt: number) =>
  run.status === STAGE_STATUS[stage] && run.stage === stage && run.attempt === attempt;

/** The answer to a task STOPPED event. */
export function onTaskStopped(
  run: RunRecord | undefined,
  event: TaskStopped,
  stageError: StageError | undefined,
  settings: MachineSettings,
  now: Date,
  random: () => number,
): Decision {
  if (!run) return { kind: 'ignore', why: `no run ${event.runId}` };
  if (!matches(run, event.stage, event.attempt)) {
    const recovery = recover(run, settings, now);
    return recovery.kind === 'ignore'
      ? {
          ...recovery,
          why: `stale event ${event.stage}#${event.attempt}: run is ${run.status} ${run.stage ?? ''}#${run.attempt} (${recovery.why})`,
        }
      : recovery;
  }
  const stopped: Partial<TaskAttempt> = {
    taskArn: event.taskArn,
    stoppedAt: event.stoppedAt ?? iso(now),
    stoppedReason: event.reason,
    ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
  };
  const stages = updateAttempt(run, event.stage, event.attempt, stopped);
  const stageDone = (status: 'SUCCEEDED' | 'FAILED', withReport: boolean) => ({
    ...stages,
    [event.stage]: {
      ...stages[event.stage]!,
      status,
      finishedAt: iso(now),
      ...(withReport ? { reportKey: layout.stageReport(run.runId, event.stage) } : {}),
    },
  });

  if (event.exitCode === 0) {
    const after = nextStage(event.stage);
    const done = stageDone('SUCCEEDED', true);
    if (!after)
      return terminal(run, now, 'SUCCEEDED', done, undefined, 'compute-kpi done: run succeeded');
    return launching(
      { ...run, stages: done },
      after,
      1,
      0,
      now,
      `${event.stage} done: ${after} launched`,
    );
  }
  if (event.exitCode !== undefined) {
    const failure: RunFailure = stageError
      ? { stage: event.stage, code: stageError.code, reason: stageError.message }
      : {
          stage: event.stage,
          code: 'task_failed',
          reason: `${event.stage} exited with code ${event.exitCode} without a report (${event.reason})`,
        };
    return terminal(
      run,
      now,
      'FAILED',
      stageDone('FAILED', Boolean(stageError)),
      failure,
      `${event.stage} exited ${event.exitCode}`,
    );
  }
  return notStarted(
    { ...run, stages },
    event.stage,
    event.attempt,
    event.reason,
    true,
    settings,
    now,
    random,
  );
}

/** A launch that created no task (RunTask failures[], throttling, a spawn error). */
export function onLaunchRefused(
  run: RunRecord | undefined,
  stage: Stage,
  attempt: number,
  result: Extract<LaunchResult, { started: false }>,
  settings: MachineSettings,
  now: Date,
  random: () => number,
): Decision {
  if (!run) return { kind: 'ignore', why: 'run vanished' };
  if (!matches(run, stage, attempt))
    return { kind: 'ignore', why: `run moved on from ${stage}#${attempt}` };
  const stages = updateAttempt(run, stage, attempt, {
    stoppedAt: iso(now),
    stoppedReason: result.reason,
  });
  return notStarted(
    { ...run, stages },
    stage,
    attempt,
    result.reason,
    result.retryable,
    settings,
    now,
    random,
  );
}

function notStarted(
  run: RunRecord,
  stage: Stage,
  attempt: number,
  reason: string,
  retryable: boolean,
  settings: MachineSettings,
  now: Date,
  random: () => number,
): Decision {
  if (retryable && attempt < settings.maxLaunchAttempts) {
    const delayMs = launchDelayMs(attempt + 1, settings, random);
    return launching(
      run,
      stage,
      attempt + 1,
      delayMs,
      now,
      `${stage}#${attempt} did not start (${reason}): retry in ${delayMs} ms`,
    );
  }
  const failed = { ...run.stages[stage]!, status: 'FAILED' as const, finishedAt: iso(now) };
  const failure: RunFailure = retryable
    ? {
        stage,
        code: 'task_not_started',
        reason: `the ${stage} task did not start in ${attempt} attempt(s); last: ${reason}`,
      }
    : {
        stage,
        code: 'task_launch_refused',
        reason: `the ${stage} task could not be launched: ${reason}`,
      };
  return terminal(run, now, 'FAILED', { ...run.stages, [stage]: failed }, failure, failure.reason);
}

/** Records the task a launch started (so `status` shows it and recovery knows it exists). */
export function onTaskLaunched(
  run: RunRecord | undefined,
  stage: Stage,
  attempt: number,
  taskArn: string,
  now: Date,
): Decision {
  if (!run) return { kind: 'ignore', why: 'run vanished' };
  // The task may already have stopped and moved the run on: nothing left to record then.
  if (!matches(run, stage, attempt))
    return { kind: 'ignore', why: `run moved on from ${stage}#${attempt}` };
  const current = run.stages[stage]?.attempts.find((a) => a.attempt === attempt);
  if (current?.taskArn) return { kind: 'ignore', why: 'task already recorded' };
  return {
    kind: 'write',
    next: bump(run, now, { stages: updateAttempt(run, stage, attempt, { taskArn }) }),
    note: `${stage}#${attempt} started ${taskArn}`,
  };
}

/**
 * What a crashed handler left undone, judged from the stored run alone (any later event for the
 * run asks): a due launch with no task recorded is launched again with the same client token
 * (so ECS returns the task if there was one), and a terminal run whose notification claim has
 * expired without a send is claimed again and finished. Work claimed but not yet overdue is
 * `pending`: the caller asks for the event again later rather than dropping it, because the
 * redelivery of a crashed handler's own event is what does this recovery.
 */
export function recover(run: RunRecord, settings: MachineSettings, now: Date): Decision {
  const overdue = (at: string | undefined) =>
    at !== undefined && now.getTime() - Date.parse(at) > settings.recoveryAfterMs;
  if (isTerminal(run.status)) {
    const n = run.notification;
    if (n?.sentAt) return { kind: 'ignore', why: `run ${run.status}, notified` };
    if (n?.claimedAt && !overdue(n.claimedAt))
      return { kind: 'ignore', why: 'notification in progress', pending: true };
    return {
      kind: 'write',
      next: bump(run, now, { notification: { ...n, claimedAt: iso(now) } }),
      effect: { kind: 'finish' },
      note: 'notification never sent: publishing it now',
    };
  }
  if (!run.stage) return { kind: 'ignore', why: `run ${run.status}` };
  const current = run.stages[run.stage]?.attempts.find((a) => a.attempt === run.attempt);
  if (!current || current.taskArn || current.stoppedAt)
    return { kind: 'ignore', why: `run ${run.status} ${run.stage}#${run.attempt} under way` };
  if (!overdue(current.launchAfter))
    return {
      kind: 'ignore',
      why: `launch of ${run.stage}#${run.attempt} in progress`,
      pending: true,
    };
  return {
    kind: 'effect',
    effect: { kind: 'launch', stage: run.stage, attempt: run.attempt, delayMs: 0 },
    note: `${run.stage}#${run.attempt} was never recorded as launched: launching again (same token)`,
  };
}

/** After a failed publish: give the claim back so the retried event can publish at once. */
export function releaseClaim(run: RunRecord | undefined, now: Date): Decision {
  if (!run?.notification?.claimedAt || run.notification.sentAt)
    return { kind: 'ignore', why: 'nothing to release' };
  const rest = { ...run.notification };
  delete rest.claimedAt;
  return {
    kind: 'write',
    next: bump(run, now, { notification: rest }),
    note: 'publish failed: claim released',
  };
}

/** After a publish: the run is notified; later events for it change nothing. */
export function markNotified(
  run: RunRecord | undefined,
  messageId: string,
  subject: string,
  now: Date,
): Decision {
  if (!run) return { kind: 'ignore', why: 'run vanished' };
  if (run.notification?.sentAt) return { kind: 'ignore', why: 'already marked' };
  return {
    kind: 'write',
    next: bump(run, now, {
      notification: { ...run.notification, sentAt: iso(now), messageId, subject },
    }),
    note: `notified (${messageId})`,
  };
}
