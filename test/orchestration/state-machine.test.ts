import { describe, expect, it } from '@jest/globals';
import {
  clientTokenFor,
  parseEvent,
  s3ObjectCreatedEvent,
  startedByFor,
} from '../../src/orchestrator/events.js';
import { subjectLine } from '../../src/orchestrator/run-report.js';
import {
  launchDelayMs,
  newRun,
  onTaskStopped,
  recover,
  type MachineSettings,
} from '../../src/orchestrator/state-machine.js';
import type { RunRecord } from '../../src/ports/runs-store.js';

const settings: MachineSettings = {
  maxLaunchAttempts: 3,
  backoffBaseMs: 2000,
  backoffMaxMs: 15_000,
  recoveryAfterMs: 90_000,
};
const at = (iso: string) => new Date(iso);

describe('events as AWS delivers them', () => {
  it('decodes S3 event keys (URL-encoded, + for space) and drops ETag quotes', () => {
    const [event] = parseEvent(
      {
        Records: [
          {
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'b' }, object: { key: 'metadata/a+b%2Bc.json', eTag: '"abc"' } },
          },
        ],
      },
      'cartpipe',
    );
    expect(event).toEqual({
      kind: 'object-created',
      bucket: 'b',
      key: 'metadata/a b+c.json',
      etag: 'abc',
    });
    // and the local runtime encodes keys the same way before handing them over
    expect(parseEvent(s3ObjectCreatedEvent('b', 'metadata/a b+c.json', 'abc'), 'cartpipe')).toEqual(
      [event],
    );
  });

  it('reads run, stage, attempt and exit code back from an ECS STOPPED event', () => {
    const detail = {
      clusterArn: 'arn:aws:ecs:eu-west-1:111122223333:cluster/cartpipe',
      taskArn: 'arn:aws:ecs:eu-west-1:111122223333:task/cartpipe/0b69d5c0d0a14e1c8a3e2c6b2c9d1f3e',
      taskDefinitionArn: 'arn:aws:ecs:eu-west-1:111122223333:task-definition/cartpipe-validate:12',
      group: 'family:cartpipe-validate',
      lastStatus: 'STOPPED',
      startedBy: startedByFor('validate', 2),
      stopCode: 'EssentialContainerExited',
      stoppedReason: 'Essential container in task exited',
      stoppedAt: '2025-04-01T10:00:00.000Z',
      containers: [{ name: 'job', exitCode: 1, lastStatus: 'STOPPED', imageDigest: 'sha256:00' }],
      overrides: {
        containerOverrides: [{ name: 'job', environment: [{ name: 'RUN_ID', value: 'b-1' }] }],
      },
      version: 5,
    };
    const event = {
      version: '0',
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      detail,
    };
    expect(parseEvent(event, 'cartpipe')).toEqual([
      {
        kind: 'task-stopped',
        runId: 'b-1',
        stage: 'validate',
        attempt: 2,
        taskArn: detail.taskArn,
        exitCode: 1,
        reason: 'EssentialContainerExited: Essential container in task exited',
        stoppedAt: '2025-04-01T10:00:00.000Z',
      },
    ]);
    const ignored = (changes: object) =>
      parseEvent({ ...event, detail: { ...detail, ...changes } }, 'cartpipe')[0]!.kind;
    expect(ignored({ lastStatus: 'RUNNING' })).toBe('ignored');
    expect(
      ignored({
        taskDefinitionArn: 'arn:aws:ecs:eu-west-1:1:task-definition/other-validate:1',
        group: 'family:other',
      }),
    ).toBe('ignored');
    expect(ignored({ startedBy: 'ecs-svc/123' })).toBe('ignored');
    expect(ignored({ startedBy: startedByFor('upload', 2) })).toBe('ignored');
    expect(ignored({ overrides: { containerOverrides: [{ name: 'job' }] } })).toBe('ignored');
    expect(parseEvent({ hello: 'world' }, 'cartpipe')[0]!.kind).toBe('ignored');
  });

  it('keeps startedBy and the client token within ECS limits', () => {
    expect(startedByFor('compute-kpi', 10).length).toBeLessThanOrEqual(36);
    expect(startedByFor('compute-kpi', 10)).toMatch(/^[A-Za-z0-9/_-]+$/);
    const token = clientTokenFor(`${'x'.repeat(64)}-0123456789ab`, 'compute-kpi', 10);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(clientTokenFor('r', 'upload', 1)).not.toBe(clientTokenFor('r', 'upload', 2));
  });
});

describe('launch backoff', () => {
  it('does not wait before the first launch, then waits up to base x 2^(n-2), capped', () => {
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6].map((n) => launchDelayMs(n, settings, top))).toEqual([
      0, 1999, 3999, 7999, 14_999, 14_999,
    ]);
    expect(launchDelayMs(4, settings, () => 0)).toBe(0);
  });
});

describe('recovery after a crashed handler', () => {
  const uploading = (launchAfter: string, taskArn?: string): RunRecord => ({
    ...newRun('r', 'metadata/r.json', 'e', at('2026-01-01T00:00:00Z')),
    status: 'UPLOADING',
    stage: 'upload',
    attempt: 1,
    stages: {
      upload: {
        status: 'RUNNING',
        startedAt: '2026-01-01T00:00:00.000Z',
        attempts: [{ attempt: 1, launchAfter, ...(taskArn ? { taskArn } : {}) }],
      },
    },
  });

  it('relaunches (same attempt, so same token) only a launch overdue and never recorded', () => {
    const run = uploading('2026-01-01T00:00:00.000Z');
    expect(recover(run, settings, at('2026-01-01T00:01:00Z')).kind).toBe('ignore');
    expect(recover(run, settings, at('2026-01-01T00:02:00Z'))).toMatchObject({
      kind: 'effect',
      effect: { kind: 'launch', stage: 'upload', attempt: 1 },
    });
    expect(
      recover(uploading('2026-01-01T00:00:00.000Z', 'arn:t'), settings, at('2026-01-01T01:00:00Z'))
        .kind,
    ).toBe('ignore');
  });

  it('re-claims a notification whose claim expired unsent, and never one that was sent', () => {
    const failed: RunRecord = {
      ...uploading('2026-01-01T00:00:00.000Z', 'arn:t'),
      status: 'FAILED',
      notification: { claimedAt: '2026-01-01T00:00:00.000Z' },
    };
    expect(recover(failed, settings, at('2026-01-01T00:01:00Z')).kind).toBe('ignore');
    const again = recover(failed, settings, at('2026-01-01T00:02:00Z'));
    expect(again).toMatchObject({ kind: 'write', effect: { kind: 'finish' } });
    expect(again.kind === 'write' && again.next.notification?.claimedAt).toBe(
      '2026-01-01T00:02:00.000Z',
    );
    const sent = {
      ...failed,
      notification: {
        claimedAt: failed.notification!.claimedAt!,
        sentAt: '2026-01-01T00:00:01.000Z',
      },
    };
    expect(recover(sent, settings, at('2026-02-01T00:00:00Z')).kind).toBe('ignore');
  });

  it('never advances a run on a STOPPED event of another stage or attempt', () => {
    const run = uploading('2026-01-01T00:00:00.000Z', 'arn:t');
    const event = {
      kind: 'task-stopped' as const,
      runId: 'r',
      stage: 'upload' as const,
      attempt: 2,
      taskArn: 'arn:x',
      exitCode: 0,
      reason: '',
    };
    expect(
      onTaskStopped(run, event, undefined, settings, at('2026-01-01T00:00:10Z'), Math.random).kind,
    ).toBe('ignore');
    expect(
      onTaskStopped(
        run,
        { ...event, attempt: 1 },
        undefined,
        settings,
        at('2026-01-01T00:00:10Z'),
        Math.random,
      ),
    ).toMatchObject({
      kind: 'write',
      next: { status: 'VALIDATING', stage: 'validate', attempt: 1, version: run.version + 1 },
      effect: { kind: 'launch', stage: 'validate', attempt: 1, delayMs: 0 },
    });
  });
});

describe('notification subjects', () => {
  it('stay one printable-ASCII line under 100 characters', () => {
    expect(subjectLine('[cartpipe] FAILED thelook batch 2025-04-01-a at upload')).toBe(
      '[cartpipe] FAILED thelook batch 2025-04-01-a at upload',
    );
    const odd = subjectLine(`[cartpipe] FAILED dätaset\nbatch ${'b'.repeat(150)}`);
    expect(odd).toMatch(/^[\x20-\x7e]{1,99}$/);
    expect(odd.startsWith('[cartpipe] FAILED d?taset batch bbb')).toBe(true);
    expect(odd.endsWith('...')).toBe(true);
  });
});
