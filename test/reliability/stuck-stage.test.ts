import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { layout } from '../../src/contracts/layout.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { readReport } from '../helpers/local.js';
import { startPipeline, type Pipeline } from './pipeline.js';
import { slicedBatches } from './scenario.js';

/**
 * A stage stuck past its time limit fails its run with a notification. Here validate's reads of
 * the raw parts are held by the proxy for good (an S3 call that never answers, below the
 * client's socket timeout), with CARTPIPE_STAGE_TIMEOUT_SECONDS at 8: the job reports FAILED
 * with stage_timeout and exits 1 on its own, the orchestrator fails the run at validate naming
 * the code, and notifies once. The held-up attempt left nothing visible: no SUCCEEDED report.
 */
describe('a stage stuck on a call that never answers', () => {
  let p: Pipeline;
  let runId: string;
  let run: RunRecord;
  beforeAll(async () => {
    p = await startPipeline({
      env: { CARTPIPE_STAGE_TIMEOUT_SECONDS: '8' },
      hold: (service, request) =>
        service === 's3' &&
        request.method === 'GET' &&
        /\/raw\/[^?]+\.parquet(\?|$)/.test(request.path),
    });
    runId = await p.submit('stuck', slicedBatches(5)[0]!);
    run = (await p.settled([runId]))[0]!;
  }, 300_000);
  afterAll(async () => p?.stop());

  it('fails the run at validate with stage_timeout, after upload succeeded', () => {
    expect(run).toMatchObject({
      status: 'FAILED',
      failure: { stage: 'validate', code: 'stage_timeout' },
    });
    expect(run.stages.upload?.status).toBe('SUCCEEDED');
    expect(run.stages.validate?.attempts).toEqual([expect.objectContaining({ exitCode: 1 })]);
    expect(run.stages['compute-kpi']).toBeUndefined();
  });

  it('the stage reported the time-out itself', async () => {
    const report = await readReport(p.t.store, runId, 'validate');
    expect(report).toMatchObject({
      status: 'FAILED',
      error: {
        code: 'stage_timeout',
        message: expect.stringContaining('CARTPIPE_STAGE_TIMEOUT_SECONDS'),
      },
    });
    expect(await p.t.store.head(layout.runReport(runId))).toBeDefined();
  });

  it('notified once, naming the stage and the code', () => {
    const sent = p.messages('stuck');
    expect(sent.map((m) => m.subject)).toEqual([
      '[cartpipe] FAILED thelook batch stuck at validate',
    ]);
    expect(sent[0]!.message).toContain('stage_timeout');
  });
});
