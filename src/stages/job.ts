/**
 * The body of every job entry point: read the config, build the AWS adapters, run the stage,
 * exit 0 on success and 1 on failure (the report in S3 says why).
 */
import { JOB_ENV, loadDotenv, readConfig } from '../config.js';
import type { Stage } from '../contracts/layout.js';
import { describeError, isCartpipeError } from '../errors.js';
import { createLogger } from '../log.js';
import { dynamoDocumentClient, s3Client } from '../adapters/aws/clients.js';
import { DynamoDbHistoryStore } from '../adapters/aws/dynamodb-history-store.js';
import { DynamoDbKpiStore } from '../adapters/aws/dynamodb-kpi-store.js';
import { S3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { executeStage } from './run-stage.js';

export const EXIT = { succeeded: 0, failed: 1, killed: 124 } as const;

export async function runJob(stage: Stage, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  await loadDotenv();
  let config;
  try {
    config = readConfig(JOB_ENV, env);
  } catch (error) {
    process.stderr.write(`cartpipe ${stage}: ${describeError(error)}\n`);
    return EXIT.failed;
  }
  const log = createLogger(config.CARTPIPE_LOG_LEVEL, { stage, runId: config.RUN_ID });
  process.once('SIGTERM', () => {
    // ECS sends SIGTERM, then SIGKILL after the stop timeout. Outputs are uploaded whole or not
    // at all and a retry rewrites the same keys, so stopping here loses nothing.
    log.warn('SIGTERM received: stopping');
    process.exit(EXIT.killed);
  });
  try {
    const store = new S3ObjectStore(s3Client(config), config.CARTPIPE_BUCKET);
    const dynamo = dynamoDocumentClient(config);
    const kpis = new DynamoDbKpiStore(dynamo, config.CARTPIPE_KPI_TABLE);
    const history = new DynamoDbHistoryStore(dynamo, config.CARTPIPE_HISTORY_TABLE);
    const report = await executeStage(stage, { store, kpis, history, config, log });
    return report.status === 'SUCCEEDED' ? EXIT.succeeded : EXIT.failed;
  } catch (error) {
    // Only reached when even the report could not be written.
    log.error('stage could not report', {
      error: describeError(error),
      code: isCartpipeError(error) ? error.code : undefined,
    });
    return EXIT.failed;
  }
}
