/**
 * The orchestrator Lambda. Three event sources invoke it asynchronously: the bucket's
 * ObjectCreated notifications for metadata/*.json, the EventBridge rule for the stage tasks'
 * STOPPED events, and a schedule that asks for a sweep of runs whose events were lost
 * (src/orchestrator/sweep.ts). It only wires the AWS adapters to the core (src/orchestrator/orchestrator.ts);
 * an error it throws makes Lambda retry the event, which the core handles idempotently.
 */
import { ORCHESTRATOR_ENV, readConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { dynamoDocumentClient, s3Client } from '../src/adapters/aws/clients.js';
import { DynamoDbRunsLister } from '../src/adapters/aws/dynamodb-runs-list.js';
import { DynamoDbRunsStore } from '../src/adapters/aws/dynamodb-runs-store.js';
import { ecsClient, ecsLauncherConfig, EcsTaskLauncher } from '../src/adapters/aws/ecs-launcher.js';
import { S3ObjectStore } from '../src/adapters/aws/s3-object-store.js';
import { SnsNotifier, snsClient } from '../src/adapters/aws/sns-notifier.js';
import { createLogger } from '../src/log.js';
import { Orchestrator, settingsFrom } from '../src/orchestrator/orchestrator.js';
import { isSweepEvent, sweepRuns, type SweepResult } from '../src/orchestrator/sweep.js';

/**
 * Builds the orchestrator from the environment (Terraform's lambda_environment).
 * @throws ConfigError naming every missing or malformed variable
 * @example const orchestrator = createOrchestrator(process.env);
 */
export function createOrchestrator(
  env: Record<string, string | undefined> = process.env,
): Orchestrator {
  const config = readConfig(ORCHESTRATOR_ENV, env);
  if (!config.CARTPIPE_TOPIC_ARN)
    throw new ConfigError('CARTPIPE_TOPIC_ARN: required (SNS topic for run notifications)');
  return new Orchestrator({
    runs: new DynamoDbRunsStore(dynamoDocumentClient(config), config.CARTPIPE_RUNS_TABLE),
    store: new S3ObjectStore(s3Client(config), config.CARTPIPE_BUCKET),
    launcher: new EcsTaskLauncher(
      ecsClient(config.AWS_REGION, env.AWS_ENDPOINT_URL_ECS, undefined, config),
      ecsLauncherConfig(config),
    ),
    notifier: new SnsNotifier(
      snsClient(config.AWS_REGION, env.AWS_ENDPOINT_URL_SNS, undefined, config),
      config.CARTPIPE_TOPIC_ARN,
    ),
    settings: settingsFrom(config),
    log: createLogger(config.CARTPIPE_LOG_LEVEL, { component: 'orchestrator' }),
  });
}

/**
 * A sweep over the runs table with the given orchestrator (see src/orchestrator/sweep.ts).
 * @example await sweep(process.env, createOrchestrator());
 */
export function sweep(
  env: Record<string, string | undefined>,
  core: Orchestrator,
): Promise<SweepResult> {
  const config = readConfig(ORCHESTRATOR_ENV, env);
  return sweepRuns({
    lister: new DynamoDbRunsLister(dynamoDocumentClient(config), config.CARTPIPE_RUNS_TABLE),
    store: new S3ObjectStore(s3Client(config), config.CARTPIPE_BUCKET),
    orchestrator: core,
    settings: {
      bucket: config.CARTPIPE_BUCKET,
      taskDefinitionPrefix: config.CARTPIPE_TASK_DEFINITION_PREFIX,
      recoveryAfterMs: config.CARTPIPE_RECOVERY_AFTER_SECONDS * 1000,
      stageTimeoutMs: config.CARTPIPE_STAGE_TIMEOUT_SECONDS * 1000,
    },
    log: createLogger(config.CARTPIPE_LOG_LEVEL, { component: 'sweep' }),
  });
}

let orchestrator: Orchestrator | undefined;

/** Lambda entry point ("orchestrator.handler"). */
export async function handler(event: unknown): Promise<void> {
  orchestrator ??= createOrchestrator();
  if (isSweepEvent(event)) await sweep(process.env, orchestrator);
  else await orchestrator.handle(event);
}
