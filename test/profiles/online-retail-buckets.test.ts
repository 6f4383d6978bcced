import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { EntityCounts } from '../../src/contracts/report.js';
import type { StageConfig } from '../../src/stages/context.js';
import { DATASETS, rowsByPartition, startTestRuntime } from '../helpers/local.js';

/**
 * online-retail's transactions have no key: validate places each row in a bucket by its text's
 * fingerprint, so exact copies must still meet however many buckets and threads there are. The
 * real sample has 602 exact duplicates (counted independently in online-retail.test.ts against
 * DuckDB).
 */
const SAMPLE = join(DATASETS, 'online-retail', 'online_retail_2010-12-01_to_2011-01-16.csv');

async function validateWith(
  overrides: Partial<StageConfig>,
): Promise<{ counts: EntityCounts; rows: Record<string, string[]> }> {
  const t = await startTestRuntime();
  try {
    // The same load time in both runtimes: it is in every validated row.
    const runId = await t.createRun(
      'online-retail',
      'buckets',
      [{ path: SAMPLE, name: 'online_retail.csv' }],
      new Date(Date.UTC(2026, 0, 1)),
    );
    const reports = await t.runStages(runId, ['upload', 'validate'], overrides);
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    return { counts: reports[1]!.entities!.transactions!, rows: await rowsByPartition(t.store) };
  } finally {
    await t.stop();
  }
}

describe('online-retail (rows without a key) in many key buckets', () => {
  it('drops the same 602 exact copies and keeps the same rows as one bucket on one thread', async () => {
    const one = await validateWith({ CARTPIPE_WORKERS: 1 });
    // 50 kB of raw Parquet a bucket: dozens of buckets, each thread validating many in turn.
    const many = await validateWith({
      CARTPIPE_WORKERS: 2,
      CARTPIPE_VALIDATE_BUCKET_BYTES: 50_000,
    });
    expect(one.counts).toMatchObject({ rowsIn: 58_991, valid: 58_389, duplicatesDropped: 602 });
    expect(many.counts).toEqual(one.counts);
    expect(many.rows).toEqual(one.rows);
  }, 120_000);
});
