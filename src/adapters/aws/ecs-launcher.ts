/**
 * TaskLauncher on ECS Fargate: RunTask of the stage's task definition ("<prefix>-<stage>") with
 * RUN_ID as the "job" container's override, a client token derived from (run, stage, attempt)
 * so a repeated launch returns the same task, and startedBy naming stage and attempt so that
 * the task's STOPPED event leads back to them. A successful response can still carry
 * `failures[]` and no task (capacity, agent): that is a launch that did not start.
 */
import { ECSClient, RunTaskCommand, type RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import { ConfigError } from '../../errors.js';
import { CONTAINER_NAME } from '../../orchestrator/events.js';
import type { LaunchRequest, LaunchResult, TaskLauncher } from '../../ports/task-launcher.js';
import { resilience, type Credentials, type RetrySettings } from './clients.js';

export interface EcsLauncherConfig {
  cluster: string;
  taskDefinitionPrefix: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: 'ENABLED' | 'DISABLED';
}

/** Builds the launcher config from the orchestrator's variables, naming any that is missing. */
export function ecsLauncherConfig(env: {
  CARTPIPE_ECS_CLUSTER?: string | undefined;
  CARTPIPE_TASK_DEFINITION_PREFIX: string;
  CARTPIPE_SUBNETS?: string | undefined;
  CARTPIPE_SECURITY_GROUPS?: string | undefined;
  CARTPIPE_ASSIGN_PUBLIC_IP: 'ENABLED' | 'DISABLED';
}): EcsLauncherConfig {
  const list = (value: string | undefined) =>
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const missing = [
    ...(env.CARTPIPE_ECS_CLUSTER ? [] : ['CARTPIPE_ECS_CLUSTER']),
    ...(list(env.CARTPIPE_SUBNETS).length > 0 ? [] : ['CARTPIPE_SUBNETS']),
  ];
  if (missing.length > 0)
    throw new ConfigError(`the ECS launcher needs ${missing.join(' and ')} (see .env.example)`);
  return {
    cluster: env.CARTPIPE_ECS_CLUSTER!,
    taskDefinitionPrefix: env.CARTPIPE_TASK_DEFINITION_PREFIX,
    subnets: list(env.CARTPIPE_SUBNETS),
    securityGroups: list(env.CARTPIPE_SECURITY_GROUPS),
    assignPublicIp: env.CARTPIPE_ASSIGN_PUBLIC_IP,
  };
}

/**
 * One ECS client with the shared retry and timeout settings; AWS_ENDPOINT_URL_ECS (read by the
 * SDK) or `endpoint` points it elsewhere. Without `credentials` the default chain applies.
 * RunTask retried by the SDK is safe: the client token makes a repeat return the same task.
 */
export function ecsClient(
  region: string,
  endpoint?: string,
  credentials?: Credentials,
  retry?: RetrySettings,
): ECSClient {
  return new ECSClient({
    region,
    ...resilience(retry),
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
  });
}

interface SdkError {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

/** Throttling, limits, server faults and network errors pass; bad requests and access do not. */
function isRetryable(error: SdkError): boolean {
  if (error.$retryable || error.$fault === 'server') return true;
  if ((error.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  if (
    /Throttl|LimitExceeded|ServerException|ServiceUnavailable|InternalError/.test(error.name ?? '')
  )
    return true;
  // No HTTP response at all: the request never got an answer (network, timeout).
  return error.$metadata?.httpStatusCode === undefined;
}

export class EcsTaskLauncher implements TaskLauncher {
  constructor(
    private readonly client: ECSClient,
    private readonly config: EcsLauncherConfig,
  ) {}

  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const { cluster, taskDefinitionPrefix, subnets, securityGroups, assignPublicIp } = this.config;
    let out: RunTaskCommandOutput;
    try {
      out = await this.client.send(
        new RunTaskCommand({
          cluster,
          taskDefinition: `${taskDefinitionPrefix}-${request.stage}`,
          launchType: 'FARGATE',
          count: 1,
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets,
              ...(securityGroups.length > 0 ? { securityGroups } : {}),
              assignPublicIp,
            },
          },
          overrides: {
            containerOverrides: [
              { name: CONTAINER_NAME, environment: [{ name: 'RUN_ID', value: request.runId }] },
            ],
          },
          startedBy: request.startedBy,
          clientToken: request.clientToken,
        }),
      );
    } catch (error) {
      const e = error as SdkError;
      return {
        started: false,
        retryable: isRetryable(e),
        reason: `RunTask ${e.name ?? 'Error'}: ${e.message ?? String(error)}`,
      };
    }
    const taskArn = out.tasks?.[0]?.taskArn;
    if (taskArn) return { started: true, taskArn };
    const failures = (out.failures ?? []).map(
      (f) =>
        `${f.reason ?? 'unknown'}${f.detail ? ` (${f.detail})` : ''}${f.arn ? ` on ${f.arn}` : ''}`,
    );
    return {
      started: false,
      retryable: true,
      reason:
        failures.length > 0
          ? `RunTask failures: ${failures.join('; ')}`
          : 'RunTask returned no task',
    };
  }
}
