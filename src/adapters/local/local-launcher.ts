/**
 * TaskLauncher for the local runtime, the stand-in for ECS RunTask: each launch runs the stage
 * job as a child process (runJobProcess) with the environment a task definition gives it plus
 * the RUN_ID override, and when the process ends, hands the orchestrator the same
 * "ECS Task State Change" STOPPED event ECS would send: the exit code when the job ran, none
 * when it could not be started (then stopCode TaskFailedToStart, as for an image pull error).
 * Like ECS, a repeated launch with the same client token returns the task already started.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describeError } from '../../errors.js';
import {
  CONTAINER_NAME,
  type EcsTaskDetail,
  type EcsTaskStateChangeEvent,
} from '../../orchestrator/events.js';
import type { LaunchRequest, LaunchResult, TaskLauncher } from '../../ports/task-launcher.js';
import { runJobProcess } from './job-process.js';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_CLUSTER = 'cartpipe-local';

export interface LocalLauncherOptions {
  /** The task definition's environment (endpoints, credentials, names, job settings). */
  env: Record<string, string>;
  region: string;
  taskDefinitionPrefix: string;
  /** Receives each task's STOPPED event (the local EventBridge). */
  onStopped: (event: EcsTaskStateChangeEvent) => void;
  /** Job logs go to <logDir>/<run_id>/<stage>-<attempt>.log (the local CloudWatch stream). */
  logDir?: string;
  /** The process runner; tests swap it to simulate a job that cannot start. */
  runJob?: typeof runJobProcess;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  // A container killed by a signal reports 128 + the signal number, as Docker does.
  return 128 + (signal ? (constants.signals[signal] ?? 9) : 9);
}

export class LocalTaskLauncher implements TaskLauncher {
  private readonly tasks = new Map<string, string>();
  private readonly kills = new Map<string, (signal: NodeJS.Signals) => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly options: LocalLauncherOptions) {}

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const known = this.tasks.get(request.clientToken);
    if (known) return { started: true, taskArn: known };
    const { region, taskDefinitionPrefix } = this.options;
    const taskArn = `arn:aws:ecs:${region}:${LOCAL_ACCOUNT}:task/${LOCAL_CLUSTER}/${randomUUID().replace(/-/g, '')}`;
    this.tasks.set(request.clientToken, taskArn);
    // While stopping, the task is accepted but never runs, like one on a host going away:
    // its run stays where it is and the next `cartpipe up` resumes it.
    if (this.stopping) return { started: true, taskArn };
    const family = `${taskDefinitionPrefix}-${request.stage}`;
    const detail: EcsTaskDetail = {
      clusterArn: `arn:aws:ecs:${region}:${LOCAL_ACCOUNT}:cluster/${LOCAL_CLUSTER}`,
      taskArn,
      taskDefinitionArn: `arn:aws:ecs:${region}:${LOCAL_ACCOUNT}:task-definition/${family}:1`,
      group: `family:${family}`,
      startedBy: request.startedBy,
      launchType: 'FARGATE',
      desiredStatus: 'STOPPED',
      lastStatus: 'STOPPED',
      createdAt: new Date().toISOString(),
      overrides: {
        containerOverrides: [
          { name: CONTAINER_NAME, environment: [{ name: 'RUN_ID', value: request.runId }] },
        ],
      },
    };
    const task = this.run(request, taskArn, detail);
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
    return { started: true, taskArn };
  }

  private async run(request: LaunchRequest, taskArn: string, detail: EcsTaskDetail): Promise<void> {
    // Let the launch return first, as RunTask does before the task runs.
    await new Promise((next) => setImmediate(next));
    const emit = (stopped: Partial<EcsTaskDetail>) => {
      if (this.stopping) return;
      const event: EcsTaskStateChangeEvent = {
        version: '0',
        id: randomUUID(),
        'detail-type': 'ECS Task State Change',
        source: 'aws.ecs',
        account: LOCAL_ACCOUNT,
        time: new Date().toISOString(),
        region: this.options.region,
        resources: [taskArn],
        detail: { ...detail, stoppedAt: new Date().toISOString(), ...stopped },
      };
      this.options.onStopped(event);
    };
    const log = this.openLog(request);
    try {
      const runJob = this.options.runJob ?? runJobProcess;
      const exit = await runJob(request.stage, {
        env: { ...this.options.env, RUN_ID: request.runId },
        onSpawn: (_pid, kill) => this.kills.set(taskArn, kill),
        onLog: (line) => log?.write(`${line}\n`),
      });
      const exitCode = exitCodeOf(exit.exitCode, exit.signal);
      emit({
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: [{ name: CONTAINER_NAME, lastStatus: 'STOPPED', exitCode }],
      });
    } catch (error) {
      emit({
        stopCode: 'TaskFailedToStart',
        stoppedReason: `CannotStartContainerError: ${describeError(error)}`,
        containers: [{ name: CONTAINER_NAME, lastStatus: 'STOPPED', reason: describeError(error) }],
      });
    } finally {
      this.kills.delete(taskArn);
      log?.end();
    }
  }

  private openLog(request: LaunchRequest): WriteStream | undefined {
    if (!this.options.logDir) return undefined;
    const dir = join(this.options.logDir, request.runId);
    mkdirSync(dir, { recursive: true });
    return createWriteStream(join(dir, `${request.stage}-${request.attempt}.log`), { flags: 'a' });
  }

  /** Tasks launched and not yet stopped (and reported). */
  get running(): number {
    return this.inFlight.size;
  }

  /** Resolves when every started job has exited and its event has been handed over. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /**
   * Stops every job (SIGTERM: a job exits 124 and loses nothing, its outputs being whole-or-none)
   * without reporting them: the runs stay in their stage and are resumed by the next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const kill of this.kills.values()) kill('SIGTERM');
    await this.idle();
  }
}
