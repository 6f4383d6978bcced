import { afterEach, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTaskLauncher } from '../../src/adapters/local/local-launcher.js';
import type { LocalOrchestration } from '../../src/adapters/local/local-orchestration.js';
import { OrchestrationError } from '../../src/errors.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import { listAll } from '../../src/ports/object-store.js';
import { SAMPLE, ScriptedLauncher, startHarness, type Harness } from './support.js';

/** Every way a run can fail ends FAILED with one notification naming the stage and the reason. */
describe('failed runs', () => {
  let h: Harness | undefined;
  const temp: string[] = [];
  afterEach(async () => {
    await h?.stop();
    h = undefined;
    for (const dir of temp.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function expectOneNotification(runId: string, subject: string, ...says: string[]) {
    const sent = h!.notifications(runId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.notification.Subject).toBe(subject);
    expect(sent[0]!.notification.MessageAttributes.status).toEqual({
      Type: 'String',
      Value: 'FAILED',
    });
    for (const text of says) expect(sent[0]!.notification.Message).toContain(text);
  }

  describe.each([
    {
      name: 'not valid JSON',
      batch: 'bad-json',
      body: '{"dataset": "thelook", ',
      code: 'manifest_invalid',
      subject: '[cartpipe] FAILED unknown batch bad-json (manifest rejected)',
      says: 'metadata/bad-json.json is not valid JSON',
    },
    {
      name: 'an unknown dataset',
      batch: 'bad-dataset',
      body: '{"dataset": "nope"}',
      code: 'unknown_dataset',
      subject: '[cartpipe] FAILED nope batch bad-dataset (manifest rejected)',
      says: 'unknown dataset "nope"; known: thelook',
    },
    {
      name: 'a missing file',
      batch: 'bad-file',
      body: '{"dataset": "thelook", "files": [{"key": "incoming/bad-file/orders.csv"}]}',
      code: 'manifest_file_missing',
      subject: '[cartpipe] FAILED thelook batch bad-file (manifest rejected)',
      says: 'listed file(s) not found: incoming/bad-file/orders.csv',
    },
  ])('a manifest with $name', ({ batch, body, code, subject, says }) => {
    it('fails the run at once, launches nothing, writes nothing but the run report, and notifies once', async () => {
      const launcher = new ScriptedLauncher();
      h = await startHarness({ launcher });
      const before = (await listAll(h.t.store, '')).map((o) => o.key);
      const put = await h.t.store.put(`metadata/${batch}.json`, body);
      const runId = runIdOf({ key: `metadata/${batch}.json`, etag: put.etag });
      const run = await h.settled(runId);
      await h.orchestration.idle();
      expect(run.status).toBe('FAILED');
      expect(run.failure).toEqual({ code, reason: expect.stringContaining(says) });
      expect(run.stages).toEqual({});
      expect(launcher.requests).toEqual([]);
      const after = (await listAll(h.t.store, '')).map((o) => o.key);
      expect(after.filter((k) => !before.includes(k)).sort()).toEqual(
        [`metadata/${batch}.json`, `runs/${runId}/report.json`].sort(),
      );
      await expectOneNotification(
        runId,
        subject,
        `Failed before upload (manifest check): ${code}: `,
        says,
      );
    });
  });

  it('a job that exits 1 (a data file upload cannot read) fails the run in that stage, with its reason', async () => {
    h = await startHarness();
    const data = mkdtempSync(join(tmpdir(), 'cartpipe-bad-'));
    temp.push(data);
    cpSync(SAMPLE, data, { recursive: true });
    writeFileSync(
      join(data, 'orders', 'orders_part1.csv'),
      Buffer.from([0x6f, 0x72, 0, 0, 0x01, 0x0a]),
    );
    const { runId } = await h.submit('bad-upload', [data]);
    const run = await h.settled(runId);
    await h.orchestration.idle();
    expect(run.status).toBe('FAILED');
    expect(run.failure).toEqual({
      stage: 'upload',
      code: 'binary_file',
      reason: expect.stringContaining('incoming/bad-upload/orders/orders_part1.csv'),
    });
    expect(run.stages.upload?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, exitCode: 1 }),
    ]);
    expect(run.stages.validate).toBeUndefined();
    await expectOneNotification(
      runId,
      '[cartpipe] FAILED thelook batch bad-upload at upload',
      'Failed in upload: binary_file: incoming/bad-upload/orders/orders_part1.csv',
      `s3://${h.t.runtime.bucket}/runs/${runId}/upload.json`,
    );
  });

  it('a task that never starts is relaunched with backoff, then the run fails naming stage and reason', async () => {
    const launcher = new ScriptedLauncher();
    h = await startHarness({
      launcher,
      random: () => 0.5,
      settings: { maxLaunchAttempts: 3, backoffBaseMs: 1000, backoffMaxMs: 1500 },
    });
    const { runId } = await h.submit('never-starts');
    await h.orchestration.idle();
    const reason =
      'CannotPullContainerError: pull access denied for cartpipe, repository does not exist';
    for (const attempt of [1, 2, 3]) {
      const event = launcher.stopped(launcher.request('upload', attempt), {
        stopCode: 'TaskFailedToStart',
        stoppedReason: reason,
      });
      await h.orchestration.orchestrator.handle(event);
      await h.orchestration.orchestrator.handle(event); // and once more: a duplicate changes nothing
    }
    expect(launcher.started).toEqual(['upload#1', 'upload#2', 'upload#3']);
    // Full jitter: attempt n waits random x min(max, base x 2^(n-2)); random() is 0.5 here.
    expect(h.delays).toEqual([500, 750]);
    const run = await h.settled(runId);
    expect(run.failure).toEqual({
      stage: 'upload',
      code: 'task_not_started',
      reason: `the upload task did not start in 3 attempt(s); last: TaskFailedToStart: ${reason}`,
    });
    expect(run.stages.upload?.attempts.map((a) => [a.attempt, a.exitCode])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, undefined],
    ]);
    await expectOneNotification(
      runId,
      '[cartpipe] FAILED thelook batch never-starts at upload',
      'Failed in upload: task_not_started: the upload task did not start in 3 attempt(s)',
      'CannotPullContainerError',
    );
  });

  it('RunTask answering failures[] every time exhausts the attempts; a refused request fails at once', async () => {
    const launcher = new ScriptedLauncher();
    const capacity = {
      started: false as const,
      retryable: true,
      reason: 'RunTask failures: RESOURCE:MEMORY',
    };
    launcher.answers.push(capacity, capacity, capacity);
    h = await startHarness({ launcher });
    const { runId } = await h.submit('no-capacity');
    const run = await h.settled(runId);
    expect(launcher.requests.map((r) => r.attempt)).toEqual([1, 2, 3]);
    expect(run.failure).toMatchObject({ stage: 'upload', code: 'task_not_started' });
    await expectOneNotification(
      runId,
      '[cartpipe] FAILED thelook batch no-capacity at upload',
      'RESOURCE:MEMORY',
    );

    launcher.answers.push({
      started: false,
      retryable: false,
      reason: 'RunTask ClientException: Unable to describe task definition.',
    });
    const second = await h.submit('bad-definition');
    const refused = await h.settled(second.runId);
    expect(launcher.requests.filter((r) => r.runId === second.runId)).toHaveLength(1);
    expect(refused.failure).toEqual({
      stage: 'upload',
      code: 'task_launch_refused',
      reason:
        'the upload task could not be launched: RunTask ClientException: Unable to describe task definition.',
    });
  });

  it('locally, a job process that cannot be spawned reports STOPPED without exit code and is retried like ECS', async () => {
    let spawns = 0;
    const wired: { orchestration?: LocalOrchestration } = {};
    const launcher = new LocalTaskLauncher({
      env: {},
      region: 'us-east-1',
      taskDefinitionPrefix: 'cartpipe',
      onStopped: (event) => wired.orchestration!.deliver(event),
      runJob: () => {
        spawns++;
        throw new OrchestrationError('job_not_built', 'dist/jobs/upload.js does not exist');
      },
    });
    h = await startHarness({ launcher, settings: { maxLaunchAttempts: 2 } });
    wired.orchestration = h.orchestration;
    const { runId } = await h.submit('cannot-spawn');
    const run = await h.settled(runId);
    expect(spawns).toBe(2);
    expect(run.failure).toEqual({
      stage: 'upload',
      code: 'task_not_started',
      reason:
        'the upload task did not start in 2 attempt(s); last: TaskFailedToStart: CannotStartContainerError: dist/jobs/upload.js does not exist',
    });
    expect(h.notifications(runId)).toHaveLength(1);
  });
});
