/**
 * How CLI commands reach the local runtime: through the one `cartpipe up` is serving (its
 * endpoints are in <data>/runtime.json), or by starting one in this process for the command's
 * duration. Only one process may hold the data folder's DynamoDB store at a time.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LOCAL_ENV, readConfig, type LocalConfig } from '../config.js';
import { dynamoDocumentClient } from '../adapters/aws/clients.js';
import { DynamoDbHistoryStore } from '../adapters/aws/dynamodb-history-store.js';
import { DynamoDbKpiStore } from '../adapters/aws/dynamodb-kpi-store.js';
import { openS3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { startLocalRuntime, type LocalRuntime } from '../adapters/local/local-runtime.js';
import type { HistoryStore } from '../ports/history-store.js';
import type { KpiStore } from '../ports/kpi-store.js';
import type { ObjectStore } from '../ports/object-store.js';

export interface LocalSession {
  config: LocalConfig;
  /** Environment for SDK clients and jobs (endpoints, credentials, names). */
  env: Record<string, string>;
  store: ObjectStore;
  kpis: KpiStore;
  history: HistoryStore;
  /** The runtime when this process owns it (events can be subscribed to). */
  runtime?: LocalRuntime;
  close(): Promise<void>;
}

interface RuntimeFile {
  pid: number;
  env: Record<string, string>;
}

const runtimeFile = (config: LocalConfig) =>
  join(resolve(config.CARTPIPE_DATA_DIR), 'runtime.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Endpoints of a `cartpipe up` serving this data folder, if one is running. */
export function runningRuntime(config: LocalConfig): RuntimeFile | undefined {
  const path = runtimeFile(config);
  if (!existsSync(path)) return undefined;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as RuntimeFile;
    return alive(file.pid) && file.pid !== process.pid ? file : undefined;
  } catch {
    return undefined;
  }
}

export function publishRuntime(runtime: LocalRuntime, config: LocalConfig): () => void {
  const path = runtimeFile(config);
  writeFileSync(path, JSON.stringify({ pid: process.pid, env: runtime.env }, null, 2));
  return () => rmSync(path, { force: true });
}

export function storesFor(env: Record<string, string>) {
  const clientConfig = {
    AWS_REGION: env.AWS_REGION!,
    AWS_ENDPOINT_URL_S3: env.AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL_DYNAMODB: env.AWS_ENDPOINT_URL_DYNAMODB,
  };
  const credentials = {
    accessKeyId: env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
  };
  const dynamo = dynamoDocumentClient(clientConfig, credentials);
  return {
    store: openS3ObjectStore({ bucket: env.CARTPIPE_BUCKET!, config: clientConfig, credentials }),
    kpis: new DynamoDbKpiStore(dynamo, env.CARTPIPE_KPI_TABLE!),
    history: new DynamoDbHistoryStore(dynamo, env.CARTPIPE_HISTORY_TABLE!),
  };
}

/**
 * Opens a session on the local runtime.
 * @param own start the runtime in this process even if asked to share (`run` needs its events).
 */
export async function openLocalSession(
  options: { own?: boolean } = {},
  envSource = process.env,
): Promise<LocalSession> {
  const config = readConfig(LOCAL_ENV, envSource);
  const running = runningRuntime(config);
  if (running && !options.own) {
    return { config, env: running.env, ...storesFor(running.env), close: async () => undefined };
  }
  if (running) {
    throw new Error(
      `the local runtime is already running (pid ${running.pid}, \`cartpipe up\`); stop it or use \`cartpipe submit\` to send it a batch`,
    );
  }
  const runtime = await startLocalRuntime(config);
  return {
    config,
    env: runtime.env,
    runtime,
    ...storesFor(runtime.env),
    close: () => runtime.stop(),
  };
}
