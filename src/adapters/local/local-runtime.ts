/**
 * The embedded local runtime: s3rver (S3) and dynalite (DynamoDB) in this process on 127.0.0.1,
 * persisted under the data folder, with the bucket and tables created on start. Jobs started as
 * child processes reach them through the endpoint variables in `env`.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { join, resolve } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { LocalConfig } from '../../config.js';
import { TABLE_KEYS, type TableKeys } from '../aws/tables.js';
import { installDesShim } from './s3rver-des-shim.js';
import { installS3rverWriteFix } from './s3rver-write-fix.js';

const require = createRequire(import.meta.url);

/** s3rver only accepts this key pair unless another is registered. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3EventRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; eTag?: string; size?: number } };
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: 'event', listener: (event: { Records: S3EventRecord[] }) => void): void;
}

export interface LocalRuntime {
  readonly dataDir: string;
  readonly s3Endpoint: string;
  readonly dynamoDbEndpoint: string;
  readonly bucket: string;
  /** Environment that points the SDK (and the jobs) at these servers. */
  readonly env: Record<string, string>;
  /** Subscribes to S3 ObjectCreated events of the local bucket. */
  onObjectCreated(listener: (record: S3EventRecord) => void): void;
  stop(): Promise<void>;
}

function tableDefinition(name: string, keys: TableKeys) {
  const attributes = [keys.partitionKey, ...(keys.sortKey ? [keys.sortKey] : [])];
  return new CreateTableCommand({
    TableName: name,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: attributes.map((a) => ({ AttributeName: a, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: keys.partitionKey, KeyType: 'HASH' },
      ...(keys.sortKey ? [{ AttributeName: keys.sortKey, KeyType: 'RANGE' as const }] : []),
    ],
  });
}

async function ensureTables(endpoint: string, config: LocalConfig): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: config.AWS_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  const tables: [string, TableKeys][] = [
    [config.CARTPIPE_RUNS_TABLE, TABLE_KEYS.runs],
    [config.CARTPIPE_KPI_TABLE, TABLE_KEYS.kpis],
    [config.CARTPIPE_HISTORY_TABLE, TABLE_KEYS.history],
  ];
  for (const [name, keys] of tables) {
    try {
      await client.send(new DescribeTableCommand({ TableName: name }));
    } catch {
      try {
        await client.send(tableDefinition(name, keys));
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
    await waitUntilTableExists(
      { client, maxWaitTime: 30, minDelay: 0.1, maxDelay: 0.5 },
      { TableName: name },
    );
  }
  client.destroy();
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
}

/**
 * Starts both servers. `dataDir` holds s3/ and dynamodb/; state persists across starts.
 * @example
 * const runtime = await startLocalRuntime(readConfig(LOCAL_ENV));
 * // ... use runtime.env ...
 * await runtime.stop();
 */
export async function startLocalRuntime(config: LocalConfig): Promise<LocalRuntime> {
  installDesShim();
  installS3rverWriteFix();
  const dataDir = resolve(config.CARTPIPE_DATA_DIR);
  const s3Dir = join(dataDir, 's3');
  const dynamoDir = join(dataDir, 'dynamodb');
  mkdirSync(s3Dir, { recursive: true });
  mkdirSync(dynamoDir, { recursive: true });

  const S3rver = require('s3rver') as new (options: object) => S3rverInstance;
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: config.CARTPIPE_LOCAL_S3_PORT,
    directory: s3Dir,
    silent: true,
    configureBuckets: [{ name: config.CARTPIPE_BUCKET }],
    allowMismatchedSignatures: false,
  });
  const s3Address = await s3.run();
  const dynalite = require('dynalite') as (options: object) => Server;
  const dynamo = dynalite({
    path: dynamoDir,
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  let dynamoPort: number;
  try {
    dynamoPort = await listen(dynamo, config.CARTPIPE_LOCAL_DYNAMODB_PORT);
  } catch (error) {
    await s3.close();
    throw error;
  }
  const s3Endpoint = `http://127.0.0.1:${s3Address.port}`;
  const dynamoDbEndpoint = `http://127.0.0.1:${dynamoPort}`;
  await ensureTables(dynamoDbEndpoint, config);

  const listeners: ((record: S3EventRecord) => void)[] = [];
  s3.on('event', (event) => {
    for (const record of event.Records) {
      if (record.eventName.startsWith('ObjectCreated')) for (const l of listeners) l(record);
    }
  });

  const env: Record<string, string> = {
    AWS_REGION: config.AWS_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoDbEndpoint,
    CARTPIPE_BUCKET: config.CARTPIPE_BUCKET,
    CARTPIPE_RUNS_TABLE: config.CARTPIPE_RUNS_TABLE,
    CARTPIPE_KPI_TABLE: config.CARTPIPE_KPI_TABLE,
    CARTPIPE_HISTORY_TABLE: config.CARTPIPE_HISTORY_TABLE,
  };

  let stopped = false;
  return {
    dataDir,
    s3Endpoint,
    dynamoDbEndpoint,
    bucket: config.CARTPIPE_BUCKET,
    env,
    onObjectCreated: (listener) => listeners.push(listener),
    async stop() {
      if (stopped) return;
      stopped = true;
      await s3.close();
      await new Promise<void>((done) => dynamo.close(() => done()));
    },
  };
}
