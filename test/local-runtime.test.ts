import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { listAll } from '../src/ports/object-store.js';
import { startTestRuntime, type TestRuntime } from './helpers/local.js';

describe('local runtime', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => t.stop());

  it('serves S3 on 127.0.0.1 with listing past 1000 keys (continuation tokens work without legacy OpenSSL)', async () => {
    expect(t.runtime.s3Endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // 1005 objects in waves of 50: enough for two listing pages without flooding the server.
    for (let wave = 0; wave < 1005; wave += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, 1005 - wave) }, (_, i) =>
          t.store.put(`x/${String(wave + i).padStart(4, '0')}`, `${wave + i}`),
        ),
      );
    }
    const listed = await listAll(t.store, 'x/');
    expect(listed).toHaveLength(1005);
    expect(listed[1004]!.key).toBe('x/1004');
  });

  it('emits ObjectCreated events for puts', async () => {
    const seen: string[] = [];
    t.runtime.onObjectCreated((r) => seen.push(r.s3.object.key));
    await t.store.put('metadata/b1.json', '{}');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toContain('metadata/b1.json');
  });

  it('serves DynamoDB with the KPI table created on start', async () => {
    await t.kpis.replaceDate({
      dataset: 'd',
      kpi: 'k',
      date: '2025-01-01',
      groupBy: [],
      rows: [{ order_date: '2025-01-01', n: 1 }],
    });
    expect(await t.kpis.list('d', 'k')).toEqual([{ order_date: '2025-01-01', n: 1 }]);
  });
});
