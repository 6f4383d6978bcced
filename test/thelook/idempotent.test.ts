import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { expandPaths } from '../../src/cli/submit.js';
import { STAGES } from '../../src/contracts/layout.js';
import { listAll } from '../../src/ports/object-store.js';
import { DATASETS, rowsByPartition, startTestRuntime, type TestRuntime } from '../helpers/local.js';

/** Every data object (reports excluded: they carry timings) with a hash of its bytes. */
async function snapshotS3(t: TestRuntime): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const o of await listAll(t.store, '')) {
    if (o.key.startsWith('runs/') && !o.key.endsWith('manifest.json')) continue;
    out[o.key] = createHash('sha256')
      .update(await t.store.get(o.key))
      .digest('hex');
  }
  return out;
}

async function snapshotKpis(t: TestRuntime) {
  return {
    daily: await t.kpis.list('thelook', 'daily'),
    category: await t.kpis.list('thelook', 'category_daily'),
  };
}

describe('re-running a stage for the same run', () => {
  let t: TestRuntime;
  let runId: string;
  beforeAll(async () => {
    t = await startTestRuntime();
    const sample = join(DATASETS, 'thelook-lab');
    // Two batches, so validate also has earlier data and held rows to consider.
    await t.load(
      'thelook',
      'first',
      expandPaths([join(sample, 'orders'), join(sample, 'products.csv')]).filter(
        (f) => !/part[56]/.test(f.name),
      ),
    );
    runId = await t.createRun(
      'thelook',
      'second',
      expandPaths([join(sample, 'order_items')]).concat(
        expandPaths([join(sample, 'orders')]).filter((f) => /part[56]/.test(f.name)),
      ),
    );
    const reports = await t.runStages(runId);
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  });
  afterAll(async () => t.stop());

  it('on worker threads (CARTPIPE_WORKERS=2) the stages write what one thread writes', async () => {
    const before = { s3: await snapshotS3(t), kpis: await snapshotKpis(t) };
    const beforeRows = await rowsByPartition(t.store);
    const reports = await t.runStages(runId, STAGES, { CARTPIPE_WORKERS: 2 });
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const after = { s3: await snapshotS3(t), kpis: await snapshotKpis(t) };
    // validate writes a part per thread (its shards), so its areas are compared row by row; every
    // other object, raw/ and kpis/ included, byte for byte.
    const sharded = (key: string) => /^(validated|held|rejected)\//.test(key);
    const unsharded = (s3: Record<string, string>) =>
      Object.fromEntries(Object.entries(s3).filter(([key]) => !sharded(key)));
    expect({ s3: unsharded(after.s3), kpis: after.kpis }).toEqual({
      s3: unsharded(before.s3),
      kpis: before.kpis,
    });
    expect(Object.keys(after.s3).filter(sharded).length).toBeGreaterThan(
      Object.keys(before.s3).filter(sharded).length,
    );
    expect(await rowsByPartition(t.store)).toEqual(beforeRows);
    // Back on one thread: the same bytes as before, and no part of the two-thread run left over.
    await t.runStages(runId, STAGES);
    expect({ s3: await snapshotS3(t), kpis: await snapshotKpis(t) }).toEqual(before);
  });

  it.each(STAGES)(
    '%s a second time leaves identical S3 objects and DynamoDB items',
    async (stage) => {
      const before = { s3: await snapshotS3(t), kpis: await snapshotKpis(t) };
      const first = (await t.runStages(runId, [stage]))[0]!;
      expect(first.status).toBe('SUCCEEDED');
      const after = { s3: await snapshotS3(t), kpis: await snapshotKpis(t) };
      expect(Object.keys(after.s3).length).toBeGreaterThan(30);
      expect(after).toEqual(before);
    },
  );

  it('running the whole run again reports the same counts', async () => {
    const before = (await t.runStages(runId)).map((r) => ({
      stage: r.stage,
      entities: r.entities,
      dates: r.datesTouched,
      kpiRows: r.kpiRows,
    }));
    const again = (await t.runStages(runId)).map((r) => ({
      stage: r.stage,
      entities: r.entities,
      dates: r.datesTouched,
      kpiRows: r.kpiRows,
    }));
    expect(again).toEqual(before);
  });
});
