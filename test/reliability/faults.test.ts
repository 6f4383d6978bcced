import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { STAGES } from '../../src/contracts/layout.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { FAULT_KINDS } from '../helpers/fault-proxy.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { oneLoadKpis, slicedBatches } from './scenario.js';

/**
 * Must show 1: with faults injected into 10% of all AWS calls (S3, DynamoDB, SNS, ECS; spread
 * evenly over throttling, 5xx, requests stalled past the client's socket timeout, and dropped
 * connections, before or after the server acted), 50 runs complete: every run SUCCEEDED, exactly
 * one notification each, every stage job run once, and the KPIs equal those of a fault-free load
 * of the same rows. The faults reach every caller: the orchestrator's runs store, S3 reads and
 * report writes, RunTask and Publish through the real EcsTaskLauncher and SnsNotifier, and the
 * jobs' S3 and DynamoDB traffic. The batches are small (three orders each) and their jobs run
 * in this process (the same stage code; child processes are the crash and concurrency tests'
 * subject), 10 runs at a time.
 */
const RUNS = 50;
const WAVE = 10;

describe(`${RUNS} runs with 10% of AWS calls failing`, () => {
  let p: Pipeline;
  const runs: RunRecord[] = [];
  const batches = slicedBatches(RUNS).map((files, i) => ({
    batch: `faulty-${String(i).padStart(2, '0')}`,
    files,
  }));

  beforeAll(async () => {
    p = await startPipeline({ faults: { rate: 0.1, seed: 7 }, inProcessJobs: true });
    for (let at = 0; at < batches.length; at += WAVE) {
      const wave = batches.slice(at, at + WAVE);
      const runIds = await Promise.all(wave.map((b) => p.submit(b.batch, b.files)));
      runs.push(...(await p.settled(runIds)));
    }
  }, 1_800_000);
  afterAll(async () => {
    if (p) {
      const requests = Object.fromEntries(
        Object.entries(p.proxies).map(([service, proxy]) => [service, proxy.requests]),
      );
      process.stdout.write(
        `fault figures: ${JSON.stringify({ runs: runs.length, requests, faults: p.faults() })}\n`,
      );
      await p.stop();
    }
  });

  it('injected every kind of fault into S3 and DynamoDB, and faults into SNS and ECS', () => {
    const faults = p.faults();
    for (const service of ['s3', 'dynamodb'] as const)
      for (const kind of FAULT_KINDS)
        expect({ service, kind, hit: faults[service][kind] > 0 }).toEqual({
          service,
          kind,
          hit: true,
        });
    // One Publish per run and three RunTask: too few calls for every kind at 10%.
    for (const service of ['sns', 'ecs'] as const)
      expect(Object.values(faults[service]).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(p.proxies.s3.faults.some((f) => f.fault === 'drop' && f.afterServer)).toBe(true);
    expect(p.proxies.dynamodb.faults.some((f) => f.fault === 'drop' && f.afterServer)).toBe(true);
  });

  it('every run succeeded, each stage job ran once', () => {
    const failed = runs
      .filter((r) => r.status !== 'SUCCEEDED')
      .map((r) => `${r.runId} ${r.status} ${JSON.stringify(r.failure)}`);
    expect(failed).toEqual([]);
    expect(runs.map((r) => r.status)).toEqual(batches.map(() => 'SUCCEEDED'));
    for (const run of runs)
      for (const stage of STAGES)
        expect({ run: run.runId, stage, jobs: p.jobRuns.get(`${run.runId}/${stage}`) }).toEqual({
          run: run.runId,
          stage,
          jobs: 1,
        });
  });

  it('sent exactly one notification per run', () => {
    for (const { batch } of batches)
      expect(p.messages(batch).map((m) => m.subject)).toEqual([
        `[cartpipe] SUCCEEDED thelook batch ${batch}`,
      ]);
    expect(p.edge.published).toHaveLength(RUNS);
  });

  it('left the KPIs of a fault-free load of the same rows', async () => {
    const expected = await oneLoadKpis('fault-free');
    expect(await p.t.kpis.list('thelook', 'daily')).toEqual(expected.daily);
    expect(await p.t.kpis.list('thelook', 'category_daily')).toEqual(expected.category_daily);
  });
});
