/**
 * The runs store port: one record per run (DESIGN.md "Run identity and state"). Every write
 * after `create` is a compare-and-set on the record the caller read, so two handlers working
 * from the same state cannot both win: that is what makes duplicated and reordered events safe.
 */
import { STAGES, type Stage } from '../contracts/layout.js';

export const RUN_STATUSES = [
  'PENDING',
  'UPLOADING',
  'VALIDATING',
  'COMPUTING',
  'SUCCEEDED',
  'FAILED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export type TerminalStatus = Extract<RunStatus, 'SUCCEEDED' | 'FAILED'>;

/** The status a run has while a stage's task is (to be) running. */
export const STAGE_STATUS: Readonly<Record<Stage, RunStatus>> = {
  upload: 'UPLOADING',
  validate: 'VALIDATING',
  'compute-kpi': 'COMPUTING',
};

export function isTerminal(status: RunStatus): status is TerminalStatus {
  return status === 'SUCCEEDED' || status === 'FAILED';
}

/** The stage after `stage`, or undefined after the last one. */
export function nextStage(stage: Stage): Stage | undefined {
  return STAGES[STAGES.indexOf(stage) + 1];
}

/** One launch of a stage's task. */
export interface TaskAttempt {
  attempt: number;
  /** When the launch is due (later than the decision when backing off). */
  launchAfter: string;
  taskArn?: string;
  stoppedAt?: string;
  /** Absent when the task never started its container. */
  exitCode?: number;
  stoppedReason?: string;
}

export interface StageState {
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: string;
  finishedAt?: string;
  /** runs/<run_id>/<stage>.json, once the stage has stopped. */
  reportKey?: string;
  attempts: TaskAttempt[];
}

export interface RunFailure {
  /** Absent when the run failed before any stage (an invalid manifest). */
  stage?: Stage;
  code: string;
  reason: string;
}

export interface NotificationState {
  /** Set by whoever may publish now; expires after a lease so a crashed publisher is replaced. */
  claimedAt?: string;
  sentAt?: string;
  messageId?: string;
  subject?: string;
}

export interface RunRecord {
  runId: string;
  /** Incremented by every write; the compare-and-set token. */
  version: number;
  status: RunStatus;
  /** The stage running now, or the one the run failed in. */
  stage?: Stage;
  /** Launch attempt of `stage` (0 before the first launch). */
  attempt: number;
  manifestKey: string;
  manifestEtag: string;
  dataset?: string;
  batch?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  stages: Partial<Record<Stage, StageState>>;
  failure?: RunFailure;
  /** runs/<run_id>/report.json, set with the terminal status. */
  reportKey?: string;
  notification?: NotificationState;
}

export interface RunsStore {
  get(runId: string): Promise<RunRecord | undefined>;
  /** Stores a new run; false (and nothing written) when a run with this id exists. */
  create(run: RunRecord): Promise<boolean>;
  /**
   * Replaces `expected` by `next` if the stored run is still `expected` (same version, status,
   * stage and attempt); false (and nothing written) otherwise. `next.version` must be
   * `expected.version + 1`.
   */
  transition(expected: RunRecord, next: RunRecord): Promise<boolean>;
}

/** Listing runs is for people (`cartpipe status`); the orchestrator never lists. */
export interface RunsLister {
  /** The most recent runs first (by createdAt). */
  list(limit?: number): Promise<RunRecord[]>;
}
