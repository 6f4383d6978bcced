/**
 * The task launcher port: starts one stage's task for one run (ECS RunTask on AWS, a child
 * process locally). A started task reports its end later as an "ECS Task State Change" event.
 */
import type { Stage } from '../contracts/layout.js';

export interface LaunchRequest {
  runId: string;
  stage: Stage;
  attempt: number;
  /** Same (run, stage, attempt) -> same token: a repeated launch returns the same task. */
  clientToken: string;
  /** Who started the task, readable back from its events: "cartpipe/<stage>/<attempt>". */
  startedBy: string;
}

export type LaunchResult =
  | { started: true; taskArn: string }
  /**
   * No task exists. `retryable`: capacity, throttling, a transient fault (launch again later);
   * otherwise a configuration problem that another attempt would hit again.
   */
  | { started: false; retryable: boolean; reason: string };

export interface TaskLauncher {
  launch(request: LaunchRequest): Promise<LaunchResult>;
}
