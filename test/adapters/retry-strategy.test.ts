import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../../src/adapters/aws/clients.js';
import { LOCAL_CREDENTIALS } from '../../src/adapters/local/local-runtime.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../helpers/fault-proxy.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

/**
 * The clients' retry strategy (src/adapters/aws/retry-strategy.ts) against s3rver behind the
 * fault proxy. A burst of failures that hits many calls of one client at once (a network blip,
 * a server stall) is what empties the SDK's retry quota; the stage jobs keep dozens of requests
 * in flight on one client, and CI saw runs fail this way under the 10% fault tier.
 */
describe('retry strategy: no retry quota, attempts still bounded', () => {
  let t: TestRuntime;
  let proxy: FaultProxy;
  const BURST = 120;
  const keys = Array.from({ length: BURST }, (_, i) => `retry-burst/object-${i}.txt`);
  const config = (maxAttempts: number) => ({
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: proxy.url,
    AWS_ENDPOINT_URL_DYNAMODB: undefined,
    CARTPIPE_AWS_MAX_ATTEMPTS: maxAttempts,
    CARTPIPE_AWS_CONNECT_TIMEOUT_MS: 2000,
    CARTPIPE_AWS_SOCKET_TIMEOUT_MS: 5000,
  });
  /** The first GET of every object fails with a 5xx, all of them at about the same time. */
  const failFirstGets = () => {
    const seen = new Set<string>();
    proxy.setHook((request: ProxiedRequest) => {
      if (!request.operation.startsWith('GET /') || !request.operation.includes('retry-burst/'))
        return 'pass';
      if (seen.has(request.operation)) return 'pass';
      seen.add(request.operation);
      return 'error';
    });
  };
  const getAll = (client: S3Client) =>
    Promise.allSettled(
      keys.map(async (key) => {
        const out = await client.send(new GetObjectCommand({ Bucket: t.runtime.bucket, Key: key }));
        return { body: await out.Body!.transformToString(), attempts: out.$metadata.attempts };
      }),
    );

  beforeAll(async () => {
    t = await startTestRuntime();
    proxy = await startFaultProxy({ service: 's3', target: t.runtime.s3Endpoint, seed: 5 });
    const client = s3Client(config(6), LOCAL_CREDENTIALS);
    for (const key of keys)
      await client.send(new PutObjectCommand({ Bucket: t.runtime.bucket, Key: key, Body: key }));
    client.destroy();
  });
  afterAll(async () => {
    await proxy?.close();
    await t?.stop();
  });

  it(`retries every one of ${BURST} calls that failed at once, and each returns its object`, async () => {
    failFirstGets();
    const client = s3Client(config(6), LOCAL_CREDENTIALS);
    const results = await getAll(client);
    client.destroy();
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.body : undefined))).toEqual(keys);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.attempts : undefined))).toEqual(
      keys.map(() => 2),
    );
  });

  it("the same burst leaves calls unretried with the SDK's own adaptive strategy (its quota)", async () => {
    failFirstGets();
    const client = new S3Client({
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      endpoint: proxy.url,
      forcePathStyle: true,
      maxAttempts: 6,
      retryMode: 'adaptive',
    });
    const results = await getAll(client);
    client.destroy();
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(failed.length).toBeGreaterThan(0);
    for (const { reason } of failed)
      expect((reason as { $metadata: { attempts: number } }).$metadata.attempts).toBe(1);
  });

  it('gives up after CARTPIPE_AWS_MAX_ATTEMPTS tries of a call that keeps failing, with the last error', async () => {
    let tries = 0;
    proxy.setHook((request) => {
      if (!request.operation.startsWith(`GET /${t.runtime.bucket}/${keys[0]}`)) return 'pass';
      tries++;
      return 'error';
    });
    const client = s3Client(config(4), LOCAL_CREDENTIALS);
    const error = await client
      .send(new GetObjectCommand({ Bucket: t.runtime.bucket, Key: keys[0] }))
      .then(
        () => undefined,
        (e: unknown) => e as { $metadata: { attempts: number; httpStatusCode: number } },
      );
    client.destroy();
    expect(tries).toBe(4);
    expect(error?.$metadata.attempts).toBe(4);
    expect([500, 503]).toContain(error?.$metadata.httpStatusCode);
  });

  it('does not retry what retrying cannot fix (a missing key)', async () => {
    let tries = 0;
    proxy.setHook((request) => {
      if (request.operation.includes('retry-burst/missing')) tries++;
      return 'pass';
    });
    const client = s3Client(config(6), LOCAL_CREDENTIALS);
    const error = await client
      .send(new GetObjectCommand({ Bucket: t.runtime.bucket, Key: 'retry-burst/missing.txt' }))
      .then(
        () => undefined,
        (e: unknown) => e as { name: string },
      );
    client.destroy();
    expect(error?.name).toBe('NoSuchKey');
    expect(tries).toBe(1);
  });
});
