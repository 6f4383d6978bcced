import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout, STAGES, type Stage } from '../../src/contracts/layout.js';
import { getProfile } from '../../src/profiles/registry.js';
import { ValidatedReader } from '../../src/stages/validated-reader.js';
import { readReport, startTestRuntime, type TestRuntime } from '../helpers/local.js';
import {
  proxyRuntime,
  runStage,
  type KillMode,
  type KillPlan,
  type ProxiedEndpoints,
  type StageRun,
} from '../helpers/stage-jobs.js';
import { snapshot, twoBatchCounts, twoBatches, type Snapshot } from './scenario.js';

/**
 * Must show 2: a stage job killed with SIGKILL at 20 different points, spread over upload,
 * validate and compute-kpi (its k-th S3 or DynamoDB request, before the server saw it or after
 * the server acted on it), then run again: every S3 data object, every stage report's facts
 * and every KPI item equal those of an uninterrupted run at the same point. Between the kill
 * and the retry, readers see none of the killed run's rows (or, once validate has committed,
 * all of them), and the killed attempt has left no report.
 *
 * The run under test is the second of two batches (scenario.ts twoBatches): it releases rows
 * the first one held, replaces a re-sent order, rejects two rows and recomputes shared dates.
 * Small part files (10 rows) make validate write several parts, so kills land between them.
 *
 * The state before each stage is saved once (the local servers' data folder, copied while they
 * are stopped) so each kill point starts from it instead of loading everything again; the
 * retry's outcome is compared with the uninterrupted run's state right after the same stage
 * (later stages only read that state).
 *
 * SIGTERM (ECS stopping a task) is a graceful stop: the job reports FAILED with stage_stopped
 * and exits 124, and its partial outputs stay invisible just the same.
 */
const FIRST_AT = new Date('2026-03-01T00:00:00Z');
const SECOND_AT = new Date('2026-03-02T00:00:00Z');
const JOB = { CARTPIPE_ROWS_PER_PART: '10', CARTPIPE_REJECT_THRESHOLD: '0.5' };
// The retry runs on as many threads as the job did (its default, one per CPU): validate writes a
// part per thread, and a retry on the same task size must write the same objects.
const IN_PROCESS = {
  CARTPIPE_ROWS_PER_PART: 10,
  CARTPIPE_REJECT_THRESHOLD: 0.5,
  CARTPIPE_WORKERS: 0,
};
const KILLS_PER_STAGE: Record<Stage, number> = { upload: 6, validate: 7, 'compute-kpi': 7 };

interface Running {
  t: TestRuntime;
  proxies: ProxiedEndpoints;
}

/** Local servers (and proxies) on the data folder `dir`. */
async function start(dir: string): Promise<Running> {
  const t = await startTestRuntime({ CARTPIPE_DATA_DIR: dir });
  return { t, proxies: await proxyRuntime(t) };
}

async function stop(r: Running) {
  await r.proxies.close();
  await r.t.stop();
}

/** Orders and items readers see now, across all dates. */
async function visibleRows(t: TestRuntime) {
  const reader = new ValidatedReader(t.store, getProfile('thelook'));
  return {
    orders: (await reader.rows('orders')).order_id!.length,
    items: (await reader.rows('order_items')).id!.length,
  };
}

describe('a stage killed at any point and run again', () => {
  const work = mkdtempSync(join(tmpdir(), 'cartpipe-crash-'));
  /** Data folder saved just before each stage of the run under test. */
  const before: Partial<Record<Stage, string>> = {};
  /** The uninterrupted run's state right after each stage. */
  const baseline: Partial<Record<Stage, Snapshot>> = {};
  const requests: Partial<Record<Stage, number>> = {};
  let runId: string;
  let rowsBefore: { orders: number; items: number };
  let rowsAfter: { orders: number; items: number };

  beforeAll(async () => {
    const live = join(work, 'live');
    const batches = twoBatches();
    let r = await start(live);
    const first = await r.t.load('thelook', 'first', batches.first, FIRST_AT);
    expect(first.map((report) => report.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    runId = await r.t.createRun('thelook', 'second', batches.second, SECOND_AT);
    rowsBefore = await visibleRows(r.t);
    for (const stage of STAGES) {
      await stop(r);
      before[stage] = join(work, `before-${stage}`);
      cpSync(live, before[stage], { recursive: true });
      r = await start(live);
      const run = await runStage(stage, r.proxies, { ...JOB, RUN_ID: runId });
      expect(run.exit).toMatchObject({ exitCode: 0, signal: null });
      requests[stage] = run.requests;
      baseline[stage] = await snapshot(r.t.store, r.t.kpis);
    }
    rowsAfter = await visibleRows(r.t);
    await stop(r);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the uninterrupted run is the reference: rows released, an order replaced, rejects kept', () => {
    const counts = twoBatchCounts();
    expect(rowsBefore).toEqual({ orders: 100, items: 422 - counts.heldAfterFirst });
    expect(rowsAfter).toEqual({
      orders: 100 + counts.secondOrders,
      items: 422 - counts.heldAfterFirst + counts.releasedBySecond,
    });
    expect(baseline['compute-kpi']!.reports[`runs/${runId}/validate.json`]).toMatchObject({
      status: 'SUCCEEDED',
      entities: {
        orders: { rowsIn: counts.secondOrders + 3, valid: counts.secondOrders + 1, rejected: 2 },
        order_items: { rowsIn: 0, released: counts.releasedBySecond },
      },
    });
    for (const stage of STAGES)
      expect(requests[stage]).toBeGreaterThanOrEqual(KILLS_PER_STAGE[stage]);
  });

  const points: { stage: Stage; index: number; mode: KillMode }[] = STAGES.flatMap((stage) =>
    Array.from({ length: KILLS_PER_STAGE[stage] }, (_, index) => ({
      stage,
      index,
      mode: (index % 2 === 0 ? 'before' : 'after') as KillMode,
    })),
  );

  it.each(points)(
    '$stage killed at point $index ($mode its request reaches the server): the retry matches',
    async ({ stage, index, mode }) => {
      // Kill points spread evenly over the stage's requests, from its first ones to its last.
      const at = Math.max(
        1,
        Math.round(((index + 0.5) / KILLS_PER_STAGE[stage]) * requests[stage]!),
      );
      await killAndRetry(stage, `${stage}-${index}`, { at, mode }, async (r, killed) => {
        expect(killed.exit.signal).toBe('SIGKILL');
        // The killed attempt left no report claiming anything.
        expect(await r.t.store.head(layout.stageReport(runId, stage))).toBeUndefined();
      });
    },
  );

  it.each(STAGES)(
    '%s stopped by SIGTERM mid-way: exits 124, reports the stop, the retry matches',
    async (stage) => {
      const at = Math.round(requests[stage]! / 2);
      await killAndRetry(
        stage,
        `${stage}-sigterm`,
        { at, mode: 'before', signal: 'SIGTERM' },
        async (r, killed) => {
          expect(killed.exit).toMatchObject({ exitCode: 124, signal: null });
          const report = await readReport(r.t.store, runId, stage);
          expect(report).toMatchObject({
            stage,
            runId,
            status: 'FAILED',
            error: { code: 'stage_stopped', message: expect.stringContaining('SIGTERM') },
          });
        },
      );
    },
  );

  /**
   * Runs `stage` from the saved state before it, stops it as `plan` says, checks that readers
   * see nothing half-done, lets `check` look at the stopped attempt, then runs the stage again
   * and compares everything with the uninterrupted run.
   */
  async function killAndRetry(
    stage: Stage,
    name: string,
    plan: KillPlan,
    check: (r: Running, killed: StageRun) => Promise<void>,
  ) {
    const dir = join(work, name);
    cpSync(before[stage]!, dir, { recursive: true });
    const r = await start(dir);
    try {
      const killed = await runStage(stage, r.proxies, { ...JOB, RUN_ID: runId }, plan);
      expect(killed.killedAt).toBeDefined();
      // The killed job's local disk (spill files, parts not yet uploaded) went with it.
      expect(killed.exit.scratch).toMatch(/cartpipe-.*-task-/);
      expect(existsSync(killed.exit.scratch!)).toBe(false);
      await check(r, killed);
      // Nothing half-visible: before validate commits, none of the run's rows; after, all.
      expect(await visibleRows(r.t)).toEqual(stage === 'compute-kpi' ? rowsAfter : rowsBefore);

      const retry = await r.t.runStages(runId, [stage], IN_PROCESS);
      expect(retry.map((report) => report.status)).toEqual(['SUCCEEDED']);
      expect(await snapshot(r.t.store, r.t.kpis)).toEqual(baseline[stage]);
    } finally {
      await stop(r);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
