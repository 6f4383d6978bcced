import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { dynamoDocumentClient } from '../../src/adapters/aws/clients.js';
import { DynamoDbRunsLister } from '../../src/adapters/aws/dynamodb-runs-list.js';
import { DynamoDbRunsStore } from '../../src/adapters/aws/dynamodb-runs-store.js';
import { TABLE_KEYS } from '../../src/adapters/aws/tables.js';
import { LOCAL_CREDENTIALS } from '../../src/adapters/local/local-runtime.js';
import { StorageError } from '../../src/errors.js';
import { newRun } from '../../src/orchestrator/state-machine.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { startTestRuntime } from '../helpers/local.js';
import { MOTO_CREDENTIALS, MOTO_REGION, motoRequired, startMoto } from '../helpers/moto.js';

interface Backend {
  client: DynamoDBDocumentClient;
  table: string;
  stop(): Promise<void>;
}

const backends: { name: string; start: () => Promise<Backend> }[] = [
  {
    name: 'dynalite (the local runtime)',
    async start() {
      const t = await startTestRuntime();
      const client = dynamoDocumentClient(
        {
          AWS_REGION: 'us-east-1',
          AWS_ENDPOINT_URL_S3: undefined,
          AWS_ENDPOINT_URL_DYNAMODB: t.runtime.dynamoDbEndpoint,
        },
        LOCAL_CREDENTIALS,
      );
      return { client, table: 'cartpipe-runs', stop: () => t.stop() };
    },
  },
  ...(motoRequired()
    ? [
        {
          name: 'moto_server',
          async start() {
            const moto = await startMoto();
            const config = {
              region: MOTO_REGION,
              endpoint: moto.endpoint,
              credentials: MOTO_CREDENTIALS,
            };
            const raw = new DynamoDBClient(config);
            await raw.send(
              new CreateTableCommand({
                TableName: 'runs',
                BillingMode: 'PAY_PER_REQUEST',
                AttributeDefinitions: [
                  { AttributeName: TABLE_KEYS.runs.partitionKey, AttributeType: 'S' },
                ],
                KeySchema: [{ AttributeName: TABLE_KEYS.runs.partitionKey, KeyType: 'HASH' }],
              }),
            );
            raw.destroy();
            const client = dynamoDocumentClient(
              {
                AWS_REGION: MOTO_REGION,
                AWS_ENDPOINT_URL_S3: undefined,
                AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
              },
              MOTO_CREDENTIALS,
            );
            return { client, table: 'runs', stop: () => moto.stop() };
          },
        },
      ]
    : []),
];

const next = (run: RunRecord, changes: Partial<RunRecord>): RunRecord => ({
  ...run,
  ...changes,
  version: run.version + 1,
});

describe.each(backends)('the DynamoDB runs store on $name', ({ start }) => {
  let backend: Backend;
  let store: DynamoDbRunsStore;
  beforeAll(async () => {
    backend = await start();
    store = new DynamoDbRunsStore(backend.client, backend.table);
  });
  afterAll(async () => backend.stop());

  const created = async (runId: string, at = '2026-01-01T00:00:00.000Z') => {
    const run = newRun(runId, `metadata/${runId}.json`, 'etag', new Date(at));
    expect(await store.create(run)).toBe(true);
    return run;
  };

  it('creates a run once: a second create of the same id writes nothing', async () => {
    const run = await created('create-once');
    expect(await store.create({ ...run, manifestEtag: 'other' })).toBe(false);
    expect(await store.get('create-once')).toEqual(run);
    const raw = await backend.client.send(
      new GetCommand({ TableName: backend.table, Key: { run_id: 'create-once' } }),
    );
    expect(raw.Item).toMatchObject({ run_id: 'create-once', status: 'PENDING', version: 1 });
  });

  it('writes a transition only from the state it was decided on', async () => {
    const v1 = await created('transition');
    const v2 = next(v1, { status: 'UPLOADING', stage: 'upload', attempt: 1 });
    expect(await store.transition(v1, v2)).toBe(true);
    // The same decision again, or another one from the same stale state: refused.
    expect(await store.transition(v1, v2)).toBe(false);
    expect(await store.transition(v1, next(v1, { status: 'FAILED' }))).toBe(false);
    // Right version, wrong expected status or attempt: refused as well.
    expect(await store.transition({ ...v2, status: 'VALIDATING' }, next(v2, {}))).toBe(false);
    expect(await store.transition({ ...v2, attempt: 2 }, next(v2, {}))).toBe(false);
    expect(await store.get('transition')).toEqual(v2);
    await expect(store.transition(v2, { ...v2 })).rejects.toBeInstanceOf(StorageError);
  });

  it('lets exactly one of many concurrent transitions from the same state win', async () => {
    const v1 = await created('race');
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) =>
        store.transition(v1, next(v1, { status: 'UPLOADING', stage: 'upload', attempt: i })),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true) + 1;
    expect(await store.get('race')).toMatchObject({ version: 2, attempt: winner });
  });

  it('lists runs newest first', async () => {
    await created('list-a', '2026-02-01T00:00:00.000Z');
    await created('list-c', '2026-02-03T00:00:00.000Z');
    await created('list-b', '2026-02-02T00:00:00.000Z');
    const lister = new DynamoDbRunsLister(backend.client, backend.table);
    expect((await lister.list(3)).map((r) => r.runId)).toEqual(['list-c', 'list-b', 'list-a']);
  });
});
