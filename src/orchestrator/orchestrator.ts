/**
 * The orchestrator core, shared by the Lambda and the local runtime. It turns each event into a
 * decision of the state machine, writes it conditionally, and performs the effect of a write it
 * won: launching a stage task, or writing the run report and publishing the notification.
 * It sees only ports; lambdas/orchestrator.ts and the local runtime plug the adapters in.
 */
import type { OrchestratorConfig } from '../config.js';
import { layout, type Stage } from '../contracts/layout.js';
import { DEFAULT_MANIFEST_LIMITS, type ManifestLimits } from '../contracts/manifest.js';
import {
  ConflictError,
  describeError,
  ManifestError,
  NotFoundError,
  OrchestrationError,
} from '../errors.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../ports/notifier.js';
import { putJson, type ObjectStore } from '../ports/object-store.js';
import type { RunRecord, RunsStore } from '../ports/runs-store.js';
import type { TaskLauncher } from '../ports/task-launcher.js';
import {
  clientTokenFor,
  parseEvent,
  startedByFor,
  type ObjectCreated,
  type TaskStopped,
} from './events.js';
import { buildRunReport, composeNotification, gatherFacts, readStageReport } from './run-report.js';
import { resolveRunManifest, runIdOf } from './run-manifest.js';
import {
  markNotified,
  newRun,
  onLaunchRefused,
  onTaskLaunched,
  onTaskStopped,
  recover,
  rejectRun,
  releaseClaim,
  startRun,
  type Decision,
  type Effect,
  type MachineSettings,
  type StageError,
} from './state-machine.js';

export interface OrchestratorSettings extends MachineSettings {
  /** The pipeline bucket; events of other buckets are ignored. */
  bucket: string;
  /** Task definition families are "<prefix>-<stage>". */
  taskDefinitionPrefix: string;
  /** Bounds on a manifest's size and file count (defaults: DEFAULT_MANIFEST_LIMITS). */
  manifestLimits?: ManifestLimits;
}

/** The settings the orchestrator's variables give. */
export function settingsFrom(
  config: Pick<
    OrchestratorConfig,
    | 'CARTPIPE_BUCKET'
    | 'CARTPIPE_TASK_DEFINITION_PREFIX'
    | 'CARTPIPE_MAX_LAUNCH_ATTEMPTS'
    | 'CARTPIPE_LAUNCH_BACKOFF_MS'
    | 'CARTPIPE_LAUNCH_BACKOFF_MAX_MS'
    | 'CARTPIPE_RECOVERY_AFTER_SECONDS'
  > &
    Partial<
      Pick<OrchestratorConfig, 'CARTPIPE_MAX_MANIFEST_BYTES' | 'CARTPIPE_MAX_MANIFEST_FILES'>
    >,
): OrchestratorSettings {
  return {
    manifestLimits: {
      maxBytes: config.CARTPIPE_MAX_MANIFEST_BYTES ?? DEFAULT_MANIFEST_LIMITS.maxBytes,
      maxFiles: config.CARTPIPE_MAX_MANIFEST_FILES ?? DEFAULT_MANIFEST_LIMITS.maxFiles,
    },
    bucket: config.CARTPIPE_BUCKET,
    taskDefinitionPrefix: config.CARTPIPE_TASK_DEFINITION_PREFIX,
    maxLaunchAttempts: config.CARTPIPE_MAX_LAUNCH_ATTEMPTS,
    backoffBaseMs: config.CARTPIPE_LAUNCH_BACKOFF_MS,
    backoffMaxMs: config.CARTPIPE_LAUNCH_BACKOFF_MAX_MS,
    recoveryAfterMs: config.CARTPIPE_RECOVERY_AFTER_SECONDS * 1000,
  };
}

export interface OrchestratorDeps {
  runs: RunsStore;
  store: ObjectStore;
  launcher: TaskLauncher;
  notifier: Notifier;
  settings: OrchestratorSettings;
  log: Logger;
  clock?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called after every write that won, with the run as written (progress display, tests). */
  onChange?: (run: RunRecord) => void;
}

/** Writes lost to concurrent handlers before giving up (each loss means real progress elsewhere). */
const MAX_CONFLICTS = 8;

export class Orchestrator {
  private readonly clock: () => Date;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly deps: OrchestratorDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.sleep = deps.sleep ?? ((ms) => new Promise((done) => setTimeout(done, ms)));
    this.random = deps.random ?? Math.random;
  }

  /**
   * Handles one incoming event (S3 notification or EventBridge task event). Resolves when its
   * effects are done; rejects only on infrastructure errors, so that the platform retries it.
   * @example await orchestrator.handle(s3Event);
   */
  async handle(event: unknown): Promise<void> {
    for (const parsed of parseEvent(event, this.deps.settings.taskDefinitionPrefix)) {
      if (parsed.kind === 'ignored') this.deps.log.debug('event ignored', { why: parsed.why });
      else if (parsed.kind === 'object-created') await this.onObjectCreated(parsed);
      else await this.onTaskStopped(parsed);
    }
  }

  private async onObjectCreated(event: ObjectCreated): Promise<void> {
    const { log, settings, store, runs } = this.deps;
    if (event.bucket !== settings.bucket) {
      log.warn('event for another bucket ignored', { bucket: event.bucket, key: event.key });
      return;
    }
    if (!layout.isManifestKey(event.key)) {
      log.debug('not a manifest', { key: event.key });
      return;
    }
    const etag = event.etag ?? (await store.head(event.key))?.etag;
    if (!etag) {
      log.warn('manifest gone before it could be read', { key: event.key });
      return;
    }
    const runId = runIdOf({ key: event.key, etag });
    const created = await runs.create(newRun(runId, event.key, etag, this.clock()));
    if (created) log.info('run created', { runId, manifest: event.key });
    const run = await runs.get(runId);
    if (!run) throw new ConflictError(`run ${runId} was created but cannot be read back`);
    if (run.status !== 'PENDING') {
      // The usual duplicate: the run is under way. Only work a crash left undone is redone.
      await this.apply(runId, (current) =>
        current ? recover(current, settings, this.clock()) : { kind: 'ignore', why: 'gone' },
      );
      return;
    }
    if (!created) log.info('manifest event for a pending run: checking it again', { runId });
    let decide: (current: RunRecord | undefined) => Decision;
    try {
      // createdAt comes from the record, so a repeat writes the same run manifest byte for byte.
      const manifest = await resolveRunManifest(
        store,
        { key: event.key, etag },
        new Date(run.createdAt),
        settings.manifestLimits,
      );
      await putJson(store, layout.runManifest(runId), manifest);
      decide = (current) =>
        current ? startRun(current, manifest, this.clock()) : { kind: 'ignore', why: 'gone' };
    } catch (error) {
      if (!(error instanceof ManifestError || error instanceof NotFoundError)) throw error;
      const rejection: StageError = { code: error.code, message: describeError(error) };
      log.warn('manifest rejected', { runId, ...rejection });
      const details = await this.namesOf(event.key);
      decide = (current) =>
        current
          ? rejectRun(current, rejection, details, this.clock())
          : { kind: 'ignore', why: 'gone' };
    }
    await this.apply(runId, decide);
  }

  /**
   * Dataset and batch of a rejected manifest, as far as they can be told, so its notification
   * says which batch failed: the batch defaults to the file's stem, as in a valid manifest.
   */
  private async namesOf(key: string): Promise<{ dataset?: string; batch?: string }> {
    const name = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
    let declared: { dataset?: unknown; batch?: unknown } = {};
    try {
      declared = JSON.parse(Buffer.from(await this.deps.store.get(key)).toString('utf8')) ?? {};
    } catch {
      // unreadable or not JSON: the stem is all there is
    }
    const stem = key.replace(/^.*\//, '').replace(/\.json$/, '');
    const batch = typeof declared.batch === 'string' ? declared.batch : stem;
    const dataset = declared.dataset;
    return {
      ...(name.test(batch) ? { batch } : {}),
      ...(typeof dataset === 'string' && name.test(dataset) ? { dataset } : {}),
    };
  }

  private async onTaskStopped(event: TaskStopped): Promise<void> {
    let stageError: StageError | undefined;
    if (event.exitCode !== undefined && event.exitCode !== 0) {
      // The job's report says why it failed; the exit code only says that it did.
      const report = await readStageReport(
        this.deps.store,
        layout.stageReport(event.runId, event.stage),
      );
      if (report?.runId === event.runId && report.error) stageError = report.error;
    }
    await this.apply(event.runId, (run) =>
      onTaskStopped(run, event, stageError, this.deps.settings, this.clock(), this.random),
    );
  }

  /**
   * Read, decide, write conditionally, and on a lost write read again and decide again: the
   * decision is always taken on the state the write is conditional on.
   */
  private async apply(
    runId: string,
    decide: (run: RunRecord | undefined) => Decision,
  ): Promise<void> {
    const { runs, log } = this.deps;
    for (let lost = 0; lost < MAX_CONFLICTS; lost++) {
      const run = await runs.get(runId);
      const decision = decide(run);
      if (decision.kind === 'ignore') {
        log.debug('nothing to do', { runId, why: decision.why });
        // Failing makes Lambda (or the local delivery) retry the event after a while.
        if (decision.pending)
          throw new OrchestrationError(
            'work_in_progress',
            `run ${runId}: ${decision.why}; deliver the event again later`,
          );
        return;
      }
      if (decision.kind === 'effect') {
        log.info(decision.note, { runId });
        await this.perform(run!, decision.effect);
        return;
      }
      if (!(await runs.transition(run!, decision.next))) {
        log.debug('conditional write lost: deciding again', { runId });
        continue;
      }
      log.info(decision.note, {
        runId,
        status: decision.next.status,
        stage: decision.next.stage,
        attempt: decision.next.attempt,
      });
      this.deps.onChange?.(decision.next);
      if (decision.effect) await this.perform(decision.next, decision.effect);
      return;
    }
    throw new ConflictError(`run ${runId}: ${MAX_CONFLICTS} conditional writes lost in a row`);
  }

  private async perform(run: RunRecord, effect: Effect): Promise<void> {
    if (effect.kind === 'launch')
      await this.launch(run, effect.stage, effect.attempt, effect.delayMs);
    else await this.finish(run);
  }

  private async launch(run: RunRecord, stage: Stage, attempt: number, delayMs: number) {
    // Backoff happens here, after the attempt is recorded: a duplicate event meanwhile finds the
    // attempt taken, and a crash meanwhile is recovered by the next event with the same token.
    if (delayMs > 0) await this.sleep(delayMs);
    const result = await this.deps.launcher.launch({
      runId: run.runId,
      stage,
      attempt,
      clientToken: clientTokenFor(run.runId, stage, attempt),
      startedBy: startedByFor(stage, attempt),
    });
    if (result.started) {
      await this.apply(run.runId, (current) =>
        onTaskLaunched(current, stage, attempt, result.taskArn, this.clock()),
      );
    } else {
      this.deps.log.warn('task not launched', { runId: run.runId, stage, attempt, ...result });
      await this.apply(run.runId, (current) =>
        onLaunchRefused(
          current,
          stage,
          attempt,
          result,
          this.deps.settings,
          this.clock(),
          this.random,
        ),
      );
    }
  }

  /**
   * Terminal run: the report, then the notification. The caller won the write that claimed the
   * notification; a failed publish gives the claim back (and rethrows so the event is retried),
   * a successful one is marked so that no later event publishes again.
   */
  private async finish(run: RunRecord): Promise<void> {
    const { store, notifier, log } = this.deps;
    const facts = await gatherFacts(store, run);
    const report = buildRunReport(run, facts);
    await putJson(store, layout.runReport(run.runId), report);
    const notification = composeNotification(run, facts);
    let messageId: string;
    try {
      ({ messageId } = await notifier.publish(notification));
    } catch (error) {
      log.error('notification not published', { runId: run.runId, error: describeError(error) });
      await this.apply(run.runId, (current) => releaseClaim(current, this.clock()));
      throw error;
    }
    await this.apply(run.runId, (current) =>
      markNotified(current, messageId, notification.subject, this.clock()),
    );
  }
}
