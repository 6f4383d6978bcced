import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { dynamoDocumentClient } from '../../src/adapters/aws/clients.js';
import { DynamoDbKpiStore } from '../../src/adapters/aws/dynamodb-kpi-store.js';
import { LOCAL_CREDENTIALS } from '../../src/adapters/local/local-runtime.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

describe('DynamoDB KPI store on the local DynamoDB server', () => {
  let t: TestRuntime;
  let store: (lease?: ConstructorParameters<typeof DynamoDbKpiStore>[2]) => DynamoDbKpiStore;
  beforeAll(async () => {
    t = await startTestRuntime();
    const client = dynamoDocumentClient(
      {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_DYNAMODB: t.runtime.dynamoDbEndpoint,
        AWS_ENDPOINT_URL_S3: undefined,
      },
      LOCAL_CREDENTIALS,
    );
    store = (lease) => new DynamoDbKpiStore(client, t.runtime.env.CARTPIPE_KPI_TABLE!, lease);
  });
  afterAll(async () => t.stop());

  it('replaces a date exactly: new rows in, rows of groups gone from the date out, other dates kept', async () => {
    const kpis = store();
    const base = { dataset: 'shop', kpi: 'by_category', groupBy: ['category'] };
    await kpis.replaceDate({
      ...base,
      date: '2025-01-01',
      rows: [
        { category: 'a', n: 1 },
        { category: 'b', n: 2 },
      ],
    });
    await kpis.replaceDate({ ...base, date: '2025-01-02', rows: [{ category: 'a', n: 5 }] });
    await kpis.replaceDate({
      ...base,
      date: '2025-01-01',
      rows: [
        { category: 'b', n: 3 },
        { category: 'c', n: 4 },
      ],
    });
    expect(await kpis.list('shop', 'by_category')).toEqual([
      { category: 'b', n: 3 },
      { category: 'c', n: 4 },
      { category: 'a', n: 5 },
    ]);
  });

  it('replaces more rows than one transaction holds', async () => {
    const kpis = store();
    const rows = Array.from({ length: 260 }, (_, i) => ({
      g: `g${String(i).padStart(3, '0')}`,
      n: i,
    }));
    await kpis.replaceDate({ dataset: 'big', kpi: 'k', date: '2025-02-01', groupBy: ['g'], rows });
    await kpis.replaceDate({
      dataset: 'big',
      kpi: 'k',
      date: '2025-02-01',
      groupBy: ['g'],
      rows: rows.slice(0, 7),
    });
    expect(await kpis.list('big', 'k')).toEqual(rows.slice(0, 7));
  });

  it('lets only one holder of a date lease work at a time', async () => {
    const kpis = store();
    const log: string[] = [];
    const work = (who: string) => async () => {
      log.push(`${who} in`);
      await new Promise((r) => setTimeout(r, 100));
      log.push(`${who} out`);
    };
    await Promise.all(
      ['a', 'b', 'c'].map((who) => kpis.withDateLease('shop', '2025-01-01', who, work(who))),
    );
    for (let i = 0; i < log.length; i += 2) expect(log[i + 1]).toBe(log[i]!.replace(' in', ' out'));
    expect(log).toHaveLength(6);
  });

  it('lets a different date proceed while one is leased, and the same owner retake its own lease', async () => {
    const kpis = store();
    const order: string[] = [];
    await kpis.withDateLease('shop', '2025-03-01', 'run-1', async () => {
      await kpis.withDateLease('shop', '2025-03-02', 'run-2', async () => order.push('other date'));
      await kpis.withDateLease('shop', '2025-03-01', 'run-1', async () => order.push('same owner'));
    });
    expect(order).toEqual(['other date', 'same owner']);
  });

  it('takes over a lease its crashed holder left behind once it has expired', async () => {
    let now = 1_000_000;
    const clock = {
      now: () => now,
      sleep: async (ms: number) => void (now += ms),
      ttlMs: 60_000,
      waitMs: 600_000,
    };
    const crashed = store(clock);
    // A holder that dies inside its work never releases: simulate by leaving work pending.
    void crashed.withDateLease(
      'shop',
      '2025-04-01',
      'dead-run',
      () => new Promise(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = now;
    let ran = false;
    await store(clock).withDateLease('shop', '2025-04-01', 'next-run', async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(now - started).toBeGreaterThanOrEqual(60_000);
  });
});
