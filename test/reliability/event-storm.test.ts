import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { STAGES, type Stage } from '../../src/contracts/layout.js';
import { isCartpipeError } from '../../src/errors.js';
import { isTerminal, type RunRecord } from '../../src/ports/runs-store.js';
import type { LaunchRequest } from '../../src/ports/task-launcher.js';
import { ScriptedLauncher, startHarness, type Harness } from '../orchestration/support.js';
import { randomInt, seededRandom } from '../helpers/random.js';

/**
 * Must show 5, as a randomized property over many runs at once (test/orchestration's
 * duplicates.test.ts pins the individual cases): every S3 manifest event and every task STOPPED
 * event is delivered 1 to 3 times, in a shuffled order, several handlers at a time, with stale
 * copies of events already handled re-delivered later; a third of the stages' first tasks never
 * start (STOPPED without an exit code) and are relaunched. Against the orchestrator core with the
 * real DynamoDB runs store on the local runtime and ECS scripted at its edge. Whatever the order:
 * no stage gets a second task for one attempt, a second attempt only after a task that never
 * started, every run succeeds, and each is notified exactly once. A delivery refused with
 * `work_in_progress` (a duplicate racing the handler that owns the work) is delivered again, as
 * Lambda's retry would.
 */
const RUNS = 12;
const SEED = 20_251_125;

interface Pending {
  event: unknown;
  label: string;
}

describe(`${RUNS} runs under duplicated, shuffled and stale events`, () => {
  let h: Harness;
  const launcher = new ScriptedLauncher();
  const random = seededRandom(SEED);
  const neverStarted = new Set<string>();
  const errors: string[] = [];
  const figures = { delivered: 0, duplicates: 0, stale: 0, retried: 0, concurrentBatches: 0 };
  let runIds: string[] = [];
  let finals: RunRecord[] = [];

  beforeAll(async () => {
    h = await startHarness({ launcher, random: () => 0.5 });
    const submitted = await Promise.all(
      Array.from({ length: RUNS }, (_, i) => h.submit(`storm-${String(i).padStart(2, '0')}`)),
    );
    runIds = submitted.map((s) => s.runId);
    for (const runId of runIds)
      for (const stage of STAGES) if (random() < 1 / 3) neverStarted.add(`${runId}/${stage}`);

    const pool: Pending[] = [];
    const delivered: Pending[] = [];
    const enqueue = (item: Pending) => {
      const copies = randomInt(random, 1, 3);
      figures.duplicates += copies - 1;
      for (let c = 0; c < copies; c++) pool.splice(randomInt(random, 0, pool.length), 0, item);
    };
    for (const s of submitted)
      enqueue({ event: h.manifestEvent(s.manifestKey, s.etag), label: `manifest ${s.runId}` });

    const answered = new Set<string>();
    const stopEventsFor = (requests: readonly LaunchRequest[]) => {
      for (const r of requests) {
        if (answered.has(r.clientToken)) continue;
        answered.add(r.clientToken);
        const failsToStart = r.attempt === 1 && neverStarted.has(`${r.runId}/${r.stage}`);
        const event = failsToStart
          ? launcher.stopped(r, {
              stopCode: 'TaskFailedToStart',
              stoppedReason: 'ResourceInitializationError: unable to pull secrets or registry auth',
            })
          : launcher.stopped(r, { exitCode: 0 });
        enqueue({ event, label: `${r.stage}#${r.attempt} ${r.runId}` });
      }
    };

    const settledAll = async () => {
      const runs = await Promise.all(runIds.map((id) => h.orchestration.runs.get(id)));
      return runs.every((r) => r && isTerminal(r.status) && r.notification?.sentAt);
    };

    for (let round = 0; round < 5000; round++) {
      stopEventsFor(launcher.requests);
      // Stale copies of events already handled come back now and then.
      if (delivered.length > 0 && random() < 0.3) {
        pool.splice(
          randomInt(random, 0, pool.length),
          0,
          delivered[randomInt(random, 0, delivered.length - 1)]!,
        );
        figures.stale += 1;
      }
      if (pool.length === 0) {
        await h.orchestration.idle();
        stopEventsFor(launcher.requests);
        if (pool.length === 0 && (await settledAll())) break;
        await new Promise((next) => setTimeout(next, 20));
        continue;
      }
      const batch = pool.splice(0, randomInt(random, 1, Math.min(4, pool.length)));
      if (batch.length > 1) figures.concurrentBatches += 1;
      const results = await Promise.allSettled(
        batch.map((p) => h.orchestration.orchestrator.handle(p.event)),
      );
      results.forEach((result, i) => {
        figures.delivered += 1;
        delivered.push(batch[i]!);
        if (result.status === 'fulfilled') return;
        const error = result.reason as unknown;
        if (isCartpipeError(error) && error.code === 'work_in_progress') {
          figures.retried += 1;
          pool.push(batch[i]!);
        } else errors.push(`${batch[i]!.label}: ${String(error)}`);
      });
    }
    await h.orchestration.idle();
    finals = (await Promise.all(runIds.map((id) => h.orchestration.runs.get(id)))) as RunRecord[];
  }, 600_000);
  afterAll(async () => {
    process.stdout.write(
      `event storm figures: ${JSON.stringify({ runs: RUNS, neverStarted: neverStarted.size, ...figures })}\n`,
    );
    await h?.stop();
  });

  it('handled every delivery without an error other than "retry later"', () => {
    expect(errors).toEqual([]);
    expect(figures.duplicates).toBeGreaterThan(RUNS);
    expect(figures.stale).toBeGreaterThan(5);
    expect(figures.concurrentBatches).toBeGreaterThan(10);
  });

  it('every run succeeded', () => {
    expect(finals.map((r) => r?.status)).toEqual(runIds.map(() => 'SUCCEEDED'));
  });

  it('launched each stage once per attempt, and a second attempt only after a task that never started', () => {
    for (const run of finals) {
      for (const stage of STAGES as readonly Stage[]) {
        const tokens = new Set(
          launcher.requests
            .filter((r) => r.runId === run.runId && r.stage === stage)
            .map((r) => `${r.attempt}:${r.clientToken}`),
        );
        const attempts = neverStarted.has(`${run.runId}/${stage}`) ? 2 : 1;
        expect({ run: run.runId, stage, tasks: tokens.size }).toEqual({
          run: run.runId,
          stage,
          tasks: attempts,
        });
        expect(run.stages[stage]?.attempts.map((a) => a.attempt)).toEqual(
          attempts === 2 ? [1, 2] : [1],
        );
      }
    }
  });

  it('notified each run exactly once', () => {
    for (const runId of runIds) expect(h.notifications(runId)).toHaveLength(1);
  });
});
