import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { StageReport } from '../../src/contracts/report.js';
import { silentLogger } from '../../src/log.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import { newRun } from '../../src/orchestrator/state-machine.js';
import {
  sweepAction,
  sweepRuns,
  type SweepResult,
  type SweepSettings,
} from '../../src/orchestrator/sweep.js';
import { submitBatch } from '../../src/cli/submit.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { slicedBatches } from './scenario.js';

const SETTINGS: SweepSettings = {
  bucket: 'b',
  taskDefinitionPrefix: 'cartpipe',
  recoveryAfterMs: 90_000,
  stageTimeoutMs: 7_200_000,
};
const T0 = Date.parse('2026-05-01T00:00:00Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

function running(taskArn?: string): RunRecord {
  return {
    ...newRun('r-1', 'metadata/r.json', 'e', new Date(T0)),
    version: 3,
    status: 'VALIDATING',
    stage: 'validate',
    attempt: 1,
    stages: {
      upload: {
        status: 'SUCCEEDED',
        startedAt: at(0),
        attempts: [
          { attempt: 1, launchAfter: at(0), taskArn: 'arn:t0', stoppedAt: at(1000), exitCode: 0 },
        ],
      },
      validate: {
        status: 'RUNNING',
        startedAt: at(2000),
        attempts: [{ attempt: 1, launchAfter: at(2000), ...(taskArn ? { taskArn } : {}) }],
      },
    },
  };
}

function report(status: 'SUCCEEDED' | 'FAILED', finishedMs: number, code?: string): StageReport {
  return {
    stage: 'validate',
    runId: 'r-1',
    dataset: 'thelook',
    batch: 'r',
    status,
    startedAt: at(finishedMs - 500),
    finishedAt: at(finishedMs),
    durationMs: 500,
    outputs: [],
    ...(code ? { error: { code, message: code } } : {}),
  };
}

describe('what the sweep re-delivers (from the stored run alone)', () => {
  const now = (ms: number) => new Date(T0 + ms);

  it('nothing for runs that are fresh, under way within their limits, or finished and notified', () => {
    expect(
      sweepAction(newRun('r', 'k', 'e', new Date(T0)), undefined, SETTINGS, now(10_000)),
    ).toEqual({ kind: 'none' });
    expect(sweepAction(running('arn:t1'), undefined, SETTINGS, now(3_600_000))).toEqual({
      kind: 'none',
    });
    expect(
      sweepAction(running('arn:t1'), report('SUCCEEDED', 60_000), SETTINGS, now(100_000)),
    ).toEqual({ kind: 'none' });
    const done = {
      ...running('arn:t1'),
      status: 'SUCCEEDED' as const,
      updatedAt: at(0),
      notification: { claimedAt: at(0), sentAt: at(1) },
    };
    expect(sweepAction(done, undefined, SETTINGS, now(10_000_000))).toEqual({ kind: 'none' });
  });

  it('the manifest event for a run left PENDING, a launch never recorded, or a notification never sent', () => {
    expect(
      sweepAction(newRun('r', 'k', 'e', new Date(T0)), undefined, SETTINGS, now(91_000)),
    ).toMatchObject({ kind: 'manifest' });
    expect(sweepAction(running(), undefined, SETTINGS, now(93_000))).toMatchObject({
      kind: 'manifest',
    });
    const unsent = {
      ...running('arn:t1'),
      status: 'FAILED' as const,
      updatedAt: at(0),
      notification: { claimedAt: at(0) },
    };
    expect(sweepAction(unsent, undefined, SETTINGS, now(91_000))).toMatchObject({
      kind: 'manifest',
    });
  });

  it('the STOPPED event a finished task never got, with the exit code its report implies', () => {
    const stopped = (r: StageReport) => sweepAction(running('arn:t1'), r, SETTINGS, now(200_000));
    expect(stopped(report('SUCCEEDED', 60_000))).toMatchObject({
      kind: 'stopped',
      stage: 'validate',
      attempt: 1,
      exitCode: 0,
    });
    expect(stopped(report('FAILED', 60_000, 'reject_ratio_exceeded'))).toMatchObject({
      exitCode: 1,
    });
    expect(stopped(report('FAILED', 60_000, 'stage_stopped'))).toMatchObject({ exitCode: 124 });
    // A report older than this attempt's launch is an earlier attempt's: it proves nothing.
    expect(stopped(report('SUCCEEDED', 1000))).toEqual({ kind: 'none' });
  });

  it('a STOPPED event without a report once the stage time limit, the kill grace and the recovery time have passed', () => {
    const limit = 2000 + 7_200_000 + 60_000 + 90_000;
    expect(sweepAction(running('arn:t1'), undefined, SETTINGS, now(limit))).toEqual({
      kind: 'none',
    });
    expect(sweepAction(running('arn:t1'), undefined, SETTINGS, now(limit + 1))).toMatchObject({
      kind: 'stopped',
      exitCode: 137,
    });
  });
});

/**
 * Lost events on the local runtime, recovered by one sweep: a handler that died right after
 * creating its run (the run stays PENDING and its S3 event is spent), a STOPPED event that never
 * came for a task that finished, and none for a task stuck on a call that never answers. The
 * sweep runs with its clock past the stage time limit (plus the kill grace and the recovery
 * time); the orchestrator keeps real time. Every run then ends, notified once: the first two
 * succeed, the stuck one fails at validate.
 */
describe('a sweep finishing runs whose events were lost', () => {
  let p: Pipeline;
  let swept: SweepResult;
  let finals: RunRecord[];
  const ids = { died: '', finished: '', stuck: '' };

  async function until(what: string, check: () => Promise<boolean>) {
    for (let i = 0; i < 1200; i++) {
      if (await check()) return;
      await new Promise((next) => setTimeout(next, 250));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  beforeAll(async () => {
    const batches = slicedBatches(3);
    p = await startPipeline({
      env: { CARTPIPE_STAGE_TIMEOUT_SECONDS: '600' },
      loseObjectCreated: (key) => key === 'metadata/died.json',
      loseEvent: (event) => {
        const detail = event.detail as {
          startedBy?: string;
          overrides?: { containerOverrides?: { environment?: { value?: string }[] }[] };
        };
        const runId = detail.overrides?.containerOverrides?.[0]?.environment?.[0]?.value;
        return runId === ids.finished && detail.startedBy === 'cartpipe/upload/1';
      },
      hold: (service, request) =>
        service === 's3' &&
        request.method === 'GET' &&
        /\/raw\/[^?]+\.parquet(\?|$)/.test(request.path) &&
        ids.stuck !== '' &&
        request.path.includes(`run=${ids.stuck}`),
    });
    ids.finished = await p.submit('finished', batches[0]!);
    ids.stuck = await p.submit('stuck', batches[1]!);
    // The handler of 'died' created its run and died: nothing else happened, no event is left.
    const died = await submitBatch(p.t.store, {
      dataset: 'thelook',
      batch: 'died',
      files: batches[2]!,
    });
    ids.died = runIdOf({ key: died.manifestKey, etag: died.manifestEtag });
    expect(
      await p.orchestration.runs.create(
        newRun(ids.died, died.manifestKey, died.manifestEtag, new Date(Date.now() - 600_000)),
      ),
    ).toBe(true);

    const runOf = (id: string) => p.orchestration.runs.get(id);
    await until('the finished upload, unreported', async () => {
      const run = await runOf(ids.finished);
      return (
        run?.status === 'UPLOADING' &&
        (await p.t.store.head(`runs/${ids.finished}/upload.json`)) !== undefined
      );
    });
    await until('the stuck validate task', async () => {
      const run = await runOf(ids.stuck);
      return run?.status === 'VALIDATING' && Boolean(run.stages.validate?.attempts[0]?.taskArn);
    });
    expect((await runOf(ids.died))?.status).toBe('PENDING');

    const later = Date.now() + (600 + 60 + 90 + 60) * 1000;
    swept = await sweepRuns({
      lister: p.orchestration.lister,
      store: p.t.store,
      orchestrator: p.orchestration.orchestrator,
      settings: {
        bucket: p.t.runtime.bucket,
        taskDefinitionPrefix: 'cartpipe',
        recoveryAfterMs: 90_000,
        stageTimeoutMs: 600_000,
      },
      log: silentLogger,
      clock: () => new Date(later),
    });
    finals = await p.settled([ids.died, ids.finished, ids.stuck]);
  }, 600_000);
  afterAll(async () => p?.stop());

  it('re-delivered the three lost events, and nothing else', () => {
    expect(swept.failed).toEqual([]);
    expect(swept.redelivered.map((r) => r.split(':')[0]).sort()).toEqual(
      [ids.died, ids.finished, ids.stuck].sort(),
    );
    expect(p.lost).toHaveLength(1);
  });

  it('finished every run: two succeeded, the stuck one failed at validate', () => {
    expect(finals.map((r) => [r.batch, r.status, r.failure?.stage])).toEqual([
      ['died', 'SUCCEEDED', undefined],
      ['finished', 'SUCCEEDED', undefined],
      ['stuck', 'FAILED', 'validate'],
    ]);
    expect(finals[2]!.failure?.reason).toContain('presumed lost');
    for (const run of finals) expect(run.stages.upload?.attempts).toHaveLength(1);
  });

  it('notified each run once', () => {
    for (const batch of ['died', 'finished', 'stuck']) expect(p.messages(batch)).toHaveLength(1);
  });
});
