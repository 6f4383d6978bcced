import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { STAGES } from '../../src/contracts/layout.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { readReport } from '../helpers/local.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { oneLoadKpis, slicedBatches } from './scenario.js';

/**
 * Must show 3: 20 manifests dropped at once, for batches whose orders share dates (every date
 * of the sample is in several batches), run through the orchestrator with every stage a child
 * process: all 20 succeed with one notification each, every stage launched once, and the final
 * KPIs are exactly those of one sequential load of the same rows. Concurrent compute-kpi stages
 * recompute shared dates under the per-date lease, so none overwrites another's result with a
 * view that misses rows (the lost update this test would catch without it).
 */
const RUNS = Number(process.env.CONC_RUNS ?? 20);

describe(`${RUNS} manifests at once for overlapping dates`, () => {
  let p: Pipeline;
  let runs: RunRecord[];
  const batches = slicedBatches(RUNS).map((files, i) => ({
    batch: `conc-${String(i).padStart(2, '0')}`,
    files,
  }));

  beforeAll(async () => {
    p = await startPipeline();
    const runIds = await Promise.all(batches.map((b) => p.submit(b.batch, b.files)));
    runs = await p.settled(runIds);
  }, 900_000);
  afterAll(async () => p?.stop());

  it('all succeed, each stage launched once per run, one notification per run', () => {
    expect(runs.map((r) => r.status)).toEqual(batches.map(() => 'SUCCEEDED'));
    for (const run of runs) {
      for (const stage of STAGES) expect(run.stages[stage]?.attempts).toHaveLength(1);
      expect(readdirSync(join(p.t.runtime.dataDir, 'logs', run.runId)).sort()).toEqual([
        'compute-kpi-1.log',
        'upload-1.log',
        'validate-1.log',
      ]);
    }
    for (const { batch } of batches) {
      expect(p.messages(batch).map((m) => m.subject)).toEqual([
        `[cartpipe] SUCCEEDED thelook batch ${batch}`,
      ]);
    }
  });

  it('recomputed shared dates: most dates were touched by several runs', async () => {
    const runsPerDate = new Map<string, number>();
    for (const run of runs) {
      const report = await readReport(p.t.store, run.runId, 'compute-kpi');
      for (const date of report.datesTouched ?? [])
        runsPerDate.set(date, (runsPerDate.get(date) ?? 0) + 1);
    }
    const shared = [...runsPerDate.values()].filter((n) => n > 1);
    expect(shared.length).toBeGreaterThan(runsPerDate.size / 2);
    expect(Math.max(...runsPerDate.values())).toBeGreaterThan(2);
  });

  it('leaves the KPIs of one sequential load of the same rows', async () => {
    const expected = await oneLoadKpis('all-at-once');
    expect(await p.t.kpis.list('thelook', 'daily')).toEqual(expected.daily);
    expect(await p.t.kpis.list('thelook', 'category_daily')).toEqual(expected.category_daily);
    expect(expected.daily!.length).toBeGreaterThan(25);
  });
});
