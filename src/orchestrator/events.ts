/**
 * The two events the orchestrator handles, as AWS delivers them, and how a stage task is named
 * so that its STOPPED event leads back to the run, stage and attempt that launched it:
 * - the run id rides in the container override (RUN_ID, which the job needs anyway),
 * - the stage is the task definition family "<prefix>-<stage>",
 * - the attempt is in `startedBy` ("cartpipe/<stage>/<attempt>", within ECS's 36 characters).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { decodeEventKey, STAGES, type Stage } from '../contracts/layout.js';

/** The container name in every stage task definition (terraform/locals.tf container_name). */
export const CONTAINER_NAME = 'job';
const STARTED_BY = /^cartpipe\/([a-z-]+)\/(\d+)$/;

/** `startedBy` of a stage task: readable in the console, parsed back from its events. */
export function startedByFor(stage: Stage, attempt: number): string {
  return `cartpipe/${stage}/${attempt}`;
}

/**
 * RunTask idempotency token (ECS allows 64 ASCII characters): the same run, stage and attempt
 * always give the same token, so a launch repeated after a crash returns the task already
 * started instead of starting a second one.
 */
export function clientTokenFor(runId: string, stage: Stage, attempt: number): string {
  return createHash('sha256').update(`${runId}\n${stage}\n${attempt}`).digest('hex');
}

// ---- S3 ObjectCreated ------------------------------------------------------------------------

const s3RecordSchema = z.looseObject({
  eventSource: z.string().optional(),
  eventName: z.string(),
  s3: z.looseObject({
    bucket: z.looseObject({ name: z.string() }),
    object: z.looseObject({
      key: z.string(),
      eTag: z.string().optional(),
      versionId: z.string().optional(),
    }),
  }),
});
const s3EventSchema = z.looseObject({ Records: z.array(s3RecordSchema).min(1) });

/** An S3 event record as S3 (and, through the local runtime, s3rver) delivers it. */
export type S3EventRecord = z.infer<typeof s3RecordSchema>;
export interface S3Event {
  Records: S3EventRecord[];
}

export interface ObjectCreated {
  kind: 'object-created';
  bucket: string;
  /** Decoded: S3 URL-encodes event keys ('+' for spaces). */
  key: string;
  /** Absent for some event kinds (s3rver's Copy): the handler asks S3 then. */
  etag?: string;
}

// ---- ECS Task State Change ---------------------------------------------------------------------

const keyValue = z.looseObject({ name: z.string().optional(), value: z.string().optional() });
const taskDetailSchema = z.looseObject({
  taskArn: z.string(),
  lastStatus: z.string(),
  taskDefinitionArn: z.string().optional(),
  group: z.string().optional(),
  startedBy: z.string().optional(),
  stopCode: z.string().optional(),
  stoppedReason: z.string().optional(),
  stoppedAt: z.string().optional(),
  containers: z
    .array(
      z.looseObject({
        name: z.string().optional(),
        exitCode: z.number().int().optional(),
        reason: z.string().optional(),
      }),
    )
    .optional(),
  overrides: z
    .looseObject({
      containerOverrides: z
        .array(
          z.looseObject({
            name: z.string().optional(),
            environment: z.array(keyValue).optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
const taskEventSchema = z.looseObject({
  source: z.literal('aws.ecs'),
  'detail-type': z.literal('ECS Task State Change'),
  time: z.string().optional(),
  detail: taskDetailSchema,
});

/** The EventBridge event ECS emits when a task changes state (only STOPPED matters here). */
export type EcsTaskStateChangeEvent = z.input<typeof taskEventSchema>;
export type EcsTaskDetail = z.input<typeof taskDetailSchema>;

export interface TaskStopped {
  kind: 'task-stopped';
  runId: string;
  stage: Stage;
  attempt: number;
  taskArn: string;
  /** Absent when the container never ran (image pull, capacity, ENI, ...). */
  exitCode?: number;
  /** stopCode, stoppedReason and the container's reason, joined for people. */
  reason: string;
  stoppedAt?: string;
}

export interface Ignored {
  kind: 'ignored';
  why: string;
}

export type OrchestratorEvent = ObjectCreated | TaskStopped | Ignored;

function familyOf(detail: z.output<typeof taskDetailSchema>): string | undefined {
  const fromArn = /:task-definition\/([^:]+)(:\d+)?$/.exec(detail.taskDefinitionArn ?? '')?.[1];
  return fromArn ?? /^family:(.+)$/.exec(detail.group ?? '')?.[1];
}

function taskStopped(
  detail: z.output<typeof taskDetailSchema>,
  taskDefinitionPrefix: string,
): TaskStopped | Ignored {
  const ignore = (why: string): Ignored => ({
    kind: 'ignored',
    why: `task ${detail.taskArn}: ${why}`,
  });
  if (detail.lastStatus !== 'STOPPED') return ignore(`lastStatus ${detail.lastStatus}`);
  const family = familyOf(detail);
  const stage = STAGES.find((s) => family === `${taskDefinitionPrefix}-${s}`);
  if (!stage) return ignore(`family ${family ?? '?'} is not a ${taskDefinitionPrefix}-<stage>`);
  const started = STARTED_BY.exec(detail.startedBy ?? '');
  if (!started || started[1] !== stage)
    return ignore(`startedBy ${JSON.stringify(detail.startedBy)} is not the orchestrator's`);
  const overrides = detail.overrides?.containerOverrides ?? [];
  const override = overrides.find((o) => o.name === CONTAINER_NAME) ?? overrides[0];
  const runId = override?.environment?.find((e) => e.name === 'RUN_ID')?.value;
  if (!runId) return ignore('no RUN_ID container override');
  const containers = detail.containers ?? [];
  const container = containers.find((c) => c.name === CONTAINER_NAME) ?? containers[0];
  // ECS often repeats the stopped reason in the container's reason: say it once.
  const reason = [detail.stopCode, detail.stoppedReason, container?.reason].reduce<string>(
    (text, part) => (!part || text.includes(part) ? text : text ? `${text}: ${part}` : part),
    '',
  );
  return {
    kind: 'task-stopped',
    runId,
    stage,
    attempt: Number(started[2]),
    taskArn: detail.taskArn,
    ...(container?.exitCode !== undefined ? { exitCode: container.exitCode } : {}),
    reason: reason || 'stopped',
    ...(detail.stoppedAt ? { stoppedAt: detail.stoppedAt } : {}),
  };
}

/**
 * Recognises an incoming event: each S3 record becomes one ObjectCreated, an ECS task event one
 * TaskStopped; anything else is Ignored with the reason (logged, never an error: EventBridge and
 * S3 configuration decide what arrives, and a retry would not change the answer).
 */
export function parseEvent(event: unknown, taskDefinitionPrefix: string): OrchestratorEvent[] {
  const s3 = s3EventSchema.safeParse(event);
  if (s3.success) {
    return s3.data.Records.map((record) =>
      record.eventName.startsWith('ObjectCreated')
        ? {
            kind: 'object-created' as const,
            bucket: record.s3.bucket.name,
            key: decodeEventKey(record.s3.object.key),
            ...(record.s3.object.eTag ? { etag: record.s3.object.eTag.replace(/"/g, '') } : {}),
          }
        : { kind: 'ignored' as const, why: `S3 ${record.eventName} ${record.s3.object.key}` },
    );
  }
  const task = taskEventSchema.safeParse(event);
  if (task.success) return [taskStopped(task.data.detail, taskDefinitionPrefix)];
  const shape =
    event && typeof event === 'object' ? Object.keys(event).slice(0, 8).join(',') : typeof event;
  return [{ kind: 'ignored', why: `not an S3 or ECS task event (keys: ${shape})` }];
}

/**
 * The S3 event for an object, shaped and encoded as S3 sends it; the local runtime builds these
 * from s3rver's (unencoded) notifications so the handler sees what it sees on AWS.
 */
export function s3ObjectCreatedEvent(
  bucket: string,
  key: string,
  etag: string | undefined,
  region = 'us-east-1',
): S3Event {
  const encoded = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: region,
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          bucket: { name: bucket },
          object: { key: encoded, ...(etag ? { eTag: etag } : {}) },
        },
      },
    ],
  };
}
