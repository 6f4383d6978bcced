import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { dynamoDocumentClient, s3Client } from '../../src/adapters/aws/clients.js';
import { DynamoDbKpiStore } from '../../src/adapters/aws/dynamodb-kpi-store.js';
import { S3ObjectStore } from '../../src/adapters/aws/s3-object-store.js';
import { LOCAL_CREDENTIALS } from '../../src/adapters/local/local-runtime.js';
import { listAll } from '../../src/ports/object-store.js';
import { evenRates, startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { seededRandom } from '../helpers/random.js';

/**
 * The S3 and DynamoDB adapters behind the fault proxy: with a third of all requests throttled,
 * failed, stalled past the client's socket timeout or cut (before or after the server acted),
 * every call still completes and the data read back is the data written. This pins the SDK
 * client settings (clients.ts: bounded retries with jitter, socket timeout) and the adapters'
 * own retries (body reads, stream resumption, batch leftovers).
 */
describe('storage adapters behind the fault proxy', () => {
  let t: TestRuntime;
  let s3: FaultProxy;
  let dynamo: FaultProxy;
  let store: S3ObjectStore;
  let kpis: DynamoDbKpiStore;
  const retry = {
    CARTPIPE_AWS_MAX_ATTEMPTS: 10,
    CARTPIPE_AWS_CONNECT_TIMEOUT_MS: 1000,
    CARTPIPE_AWS_SOCKET_TIMEOUT_MS: 500,
  };

  beforeAll(async () => {
    t = await startTestRuntime();
    s3 = await startFaultProxy({
      service: 's3',
      target: t.runtime.s3Endpoint,
      seed: 11,
      stallMs: 1500,
    });
    dynamo = await startFaultProxy({
      service: 'dynamodb',
      target: t.runtime.dynamoDbEndpoint,
      seed: 12,
      stallMs: 1500,
    });
    const config = {
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      ...retry,
    };
    store = new S3ObjectStore(s3Client(config, LOCAL_CREDENTIALS), t.runtime.bucket);
    kpis = new DynamoDbKpiStore(
      dynamoDocumentClient(config, LOCAL_CREDENTIALS),
      t.runtime.env.CARTPIPE_KPI_TABLE!,
    );
  });
  afterAll(async () => {
    await s3.close();
    await dynamo.close();
    await t.stop();
  });

  it('S3 puts, gets (whole and ranged), streams, lists and deletes all complete under 30% faults, bytes intact', async () => {
    s3.setRates(evenRates(0.3));
    const random = seededRandom(3);
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 24; i++) {
      // Sizes from a few bytes to 300 KB: large bodies are cut half-way by the 'drop' fault.
      const size = Math.floor(random() * 300_000) + 3;
      const body = Buffer.alloc(size);
      for (let b = 0; b < size; b++) body[b] = Math.floor(random() * 256);
      objects.set(`faults/object-${i}.bin`, body);
    }
    for (const [key, body] of objects) await store.put(key, body);
    const listed = await listAll(store, 'faults/');
    expect(listed.map((o) => o.key).sort()).toEqual([...objects.keys()].sort());
    const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    for (const [key, body] of objects) {
      expect(digest(await store.get(key))).toBe(digest(body));
      const [from, to] = [Math.floor(body.length / 3), Math.floor(body.length / 3) + 20_000];
      expect(digest(await store.getRange(key, from, to))).toBe(digest(body.subarray(from, to)));
      const chunks: Buffer[] = [];
      for await (const chunk of await store.stream(key)) chunks.push(chunk as Buffer);
      expect(digest(Buffer.concat(chunks))).toBe(digest(body));
    }
    await store.delete([...objects.keys()]);
    s3.setRates({});
    expect(await listAll(store, 'faults/')).toEqual([]);
    const counts = s3.counts();
    for (const kind of ['throttle', 'error', 'timeout', 'drop'] as const)
      expect(counts[kind]).toBeGreaterThan(0);
    expect(s3.faults.some((f) => f.fault === 'drop' && f.afterServer)).toBe(true);
  });

  it('DynamoDB KPI replacements and the date lease complete under 30% faults, items exact', async () => {
    dynamo.setRates(evenRates(0.3));
    const base = { dataset: 'faults', kpi: 'daily', groupBy: ['group'] };
    const expected: Record<string, unknown>[] = [];
    for (let d = 1; d <= 6; d++) {
      const date = `2025-01-0${d}`;
      // 40 rows: more than one BatchWriteItem, so unprocessed leftovers and retries both occur.
      const rows = Array.from({ length: 40 }, (_, g) => ({
        group: `g${String(g).padStart(2, '0')}`,
        date,
        value: d * 100 + g,
      }));
      await kpis.withDateLease('faults', date, 'test-owner', () =>
        kpis.replaceDate({ ...base, date, rows: rows.map((r) => ({ ...r, value: -1 })) }),
      );
      await kpis.withDateLease('faults', date, 'test-owner', () =>
        kpis.replaceDate({ ...base, date, rows }),
      );
      expected.push(...rows);
    }
    dynamo.setRates({});
    const stored = await kpis.list('faults', 'daily');
    expect(stored).toHaveLength(expected.length);
    expect(stored).toEqual(expect.arrayContaining(expected.map((e) => expect.objectContaining(e))));
    const counts = dynamo.counts();
    for (const kind of ['throttle', 'error', 'timeout', 'drop'] as const)
      expect(counts[kind]).toBeGreaterThan(0);
  });
});
