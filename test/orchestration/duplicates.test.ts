import { afterEach, describe, expect, it } from '@jest/globals';
import { FileNotifier } from '../../src/adapters/local/file-notifier.js';
import { listAll } from '../../src/ports/object-store.js';
import { FaultyNotifier, ScriptedLauncher, startHarness, type Harness } from './support.js';

/**
 * Duplicated and reordered events against the real local S3 and DynamoDB, with the ECS edge
 * scripted so that the test decides when, how often and in which order tasks report STOPPED.
 */
describe('duplicated and reordered events', () => {
  let h: Harness | undefined;
  afterEach(async () => h?.stop());

  async function submitted(launcher: ScriptedLauncher, batch: string, extra = {}) {
    h = await startHarness({ launcher, ...extra });
    const s = await h.submit(batch);
    await h.orchestration.idle(); // the S3 server's own event has been handled
    return s;
  }

  /**
   * Delivers events concurrently, as Lambda would, and redelivers those that asked for it (a
   * duplicate that found the winner's launch still under way), as Lambda's retry would.
   */
  const handle = async (...events: unknown[]) => {
    const outcomes = await Promise.allSettled(
      events.map((event) => h!.orchestration.orchestrator.handle(event)),
    );
    const again = events.filter((_, i) => outcomes[i]!.status === 'rejected');
    for (const outcome of outcomes)
      if (outcome.status === 'rejected')
        expect(outcome.reason).toMatchObject({ code: 'work_in_progress' });
    for (const event of again) await h!.orchestration.orchestrator.handle(event);
  };

  it('a duplicated S3 event creates one run and launches upload once', async () => {
    const launcher = new ScriptedLauncher();
    const s = await submitted(launcher, 'dup-s3');
    const event = h!.manifestEvent(s.manifestKey, s.etag);
    // Duplicates racing each other: each finds nothing to do, or finds the launch still under
    // way and asks to be delivered again (and then finds nothing to do); none launches.
    await handle(event, event, event);
    expect(launcher.requests.map((r) => `${r.stage}#${r.attempt}`)).toEqual(['upload#1']);
    const run = await h!.orchestration.runs.get(s.runId);
    expect(run).toMatchObject({ status: 'UPLOADING', stage: 'upload', attempt: 1 });
    expect((await h!.orchestration.lister.list()).map((r) => r.runId)).toEqual([s.runId]);
    expect(h!.notifications(s.runId)).toHaveLength(0);
  });

  it('duplicated and reordered task events launch every stage once and notify once', async () => {
    const launcher = new ScriptedLauncher();
    const s = await submitted(launcher, 'dup-tasks');
    const uploadDone = launcher.stopped(launcher.request('upload'));
    await handle(uploadDone, uploadDone, uploadDone);
    expect(launcher.started).toEqual(['upload#1', 'validate#1']);

    const validateDone = launcher.stopped(launcher.request('validate'));
    // upload's event again, arriving late, after validate was launched: stale, ignored
    await handle(uploadDone);
    await handle(validateDone, uploadDone, validateDone);
    expect(launcher.started).toEqual(['upload#1', 'validate#1', 'compute-kpi#1']);

    const computeDone = launcher.stopped(launcher.request('compute-kpi'));
    await handle(computeDone, computeDone, computeDone);
    const finished = await h!.orchestration.runs.get(s.runId);
    expect(finished?.status).toBe('SUCCEEDED');

    // Everything once more, newest first, plus the manifest event: nothing moves.
    for (const event of [
      computeDone,
      validateDone,
      uploadDone,
      h!.manifestEvent(s.manifestKey, s.etag),
    ])
      await handle(event);
    expect(await h!.orchestration.runs.get(s.runId)).toEqual(finished);
    expect(launcher.requests.map((r) => `${r.stage}#${r.attempt}`)).toEqual([
      'upload#1',
      'validate#1',
      'compute-kpi#1',
    ]);
    expect(h!.notifications(s.runId)).toHaveLength(1);
  });

  it('a late STOPPED event of an attempt already retried neither relaunches nor fails the run', async () => {
    const launcher = new ScriptedLauncher();
    const s = await submitted(launcher, 'dup-retry');
    const pullFailed = launcher.stopped(launcher.request('upload', 1), {
      stopCode: 'TaskFailedToStart',
      stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
    });
    await handle(pullFailed, pullFailed);
    expect(launcher.started).toEqual(['upload#1', 'upload#2']);
    await handle(pullFailed);
    await handle(launcher.stopped(launcher.request('upload', 2)));
    await handle(pullFailed);
    expect(launcher.started).toEqual(['upload#1', 'upload#2', 'validate#1']);
    expect(await h!.orchestration.runs.get(s.runId)).toMatchObject({
      status: 'VALIDATING',
      attempt: 1,
    });
  });

  it('a handler that died after winning a launch is made good by the next delivery, with the same client token', async () => {
    const launcher = new ScriptedLauncher();
    launcher.answers.push('hang'); // the first RunTask call never returns: the Lambda timed out
    let now = Date.parse('2026-01-01T00:00:00Z');
    h = await startHarness({ launcher, clock: () => new Date(now) });
    const s = await h.submit('crash-launch');
    // The S3 server's event is being handled and hangs inside RunTask: wait for the call.
    while (launcher.requests.length === 0) await new Promise((next) => setTimeout(next, 20));
    const event = h!.manifestEvent(s.manifestKey, s.etag);
    // Too early: the launch may still be under way elsewhere, so the event is asked for again.
    await expect(h!.orchestration.orchestrator.handle(event)).rejects.toMatchObject({
      code: 'work_in_progress',
    });
    expect(launcher.requests).toHaveLength(1);
    now += h!.orchestration.settings.recoveryAfterMs + 1000;
    await h!.orchestration.orchestrator.handle(event); // Lambda's retry, minutes later
    expect(launcher.requests).toHaveLength(2);
    expect(launcher.requests[1]!.clientToken).toBe(launcher.requests[0]!.clientToken);
    const run = await h!.orchestration.runs.get(s.runId);
    expect(run?.stages.upload?.attempts).toEqual([
      expect.objectContaining({ attempt: 1, taskArn: expect.stringMatching(/^arn:aws:ecs:/) }),
    ]);
    expect(launcher.started).toEqual(['upload#1']);
  });

  it('a failed publish is retried and a crashed one is redone after the lease: one notification either way', async () => {
    const launcher = new ScriptedLauncher();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const notifier = new FaultyNotifier(() => new FileNotifier(h!.orchestration.notificationsDir));
    h = await startHarness({ launcher, clock: () => new Date(now), notifier });
    notifier.faults.push('fail', 'hang');
    const s = await h.submit('crash-notify');
    await h.orchestration.idle();
    const handle = (event: unknown) => h!.orchestration.orchestrator.handle(event);
    const failed = launcher.stopped(launcher.request('upload'), { exitCode: 1 });
    await expect(handle(failed)).rejects.toThrow('SNS is unavailable');
    expect((await h.orchestration.runs.get(s.runId))?.notification).toEqual({});

    void handle(failed); // the retry's publish hangs: a Lambda that timed out mid-publish
    while (notifier.attempts < 2) await new Promise((next) => setTimeout(next, 20));
    // Within the lease another handler may still be publishing: asked to come back later.
    await expect(handle(failed)).rejects.toMatchObject({ code: 'work_in_progress' });
    expect(notifier.attempts).toBe(2);
    now += h.orchestration.settings.recoveryAfterMs + 1000;
    await handle(failed);
    await handle(failed);
    expect(notifier.attempts).toBe(3);
    expect(h.notifications(s.runId)).toHaveLength(1);
    const run = await h.orchestration.runs.get(s.runId);
    expect(run).toMatchObject({ status: 'FAILED', failure: { stage: 'upload' } });
    expect(run?.notification?.sentAt).toBeDefined();
    expect((await listAll(h.t.store, `runs/${s.runId}/report.json`)).length).toBe(1);
  });
});
