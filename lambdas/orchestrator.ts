/**
 * The orchestrator Lambda. Two event sources invoke it asynchronously: the bucket's
 * ObjectCreated notifications for metadata/*.json, and the EventBridge rule for the stage tasks'
 * STOPPED events. It only wires the AWS adapters to the core (src/orchestrator/orchestrator.ts);
 * an error it throws makes Lambda retry the event, which the core handles idempotently.
 */
import { ORCHESTRATOR_ENV, readConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { dynamoDocumentClient, s3Client } from '../src/adapters/aws/clients.js';
import { DynamoDbRunsStore } from '../src/adapters/aws/dynamodb-runs-store.js';
import { ecsClient, ecsLauncherConfig, EcsTaskLauncher } from '../src/adapters/aws/ecs-launcher.js';
import { S3ObjectStore } from '../src/adapters/aws/s3-object-store.js';
import { SnsNotifier, snsClient } from '../src/adapters/aws/sns-notifier.js';
import { createLogger } from '../src/log.js';
import { Orchestrator, settingsFrom } from '../src/orchestrator/orchestrator.js';

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

let orchestrator: Orchestrator | undefined;

/** Lambda entry point ("orchestrator.handler"). */
export async function handler(event: unknown): Promise<void> {
  orchestrator ??= createOrchestrator();
  await orchestrator.handle(event);
}
