import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { TABLE_KEYS } from '../../src/adapters/aws/tables.js';
import { STAGES } from '../../src/contracts/layout.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoRequired,
  startMoto,
  type Moto,
} from '../helpers/moto.js';

const describeMoto = motoRequired() ? describe : describe.skip;

/**
 * The Lambda entry point itself, built from its environment as Terraform sets it, with every
 * AWS service it calls served by moto: S3 event -> runs table -> RunTask -> STOPPED events ->
 * SNS. moto runs no containers, so the test plays ECS's part of reporting each task's end,
 * from what DescribeTasks says about the task.
 */
describeMoto('the orchestrator Lambda against moto_server', () => {
  let moto: Moto;
  let handler: (event: unknown) => Promise<void>;
  let ecs: ECSClient;
  const saved = { ...process.env };
  const bucket = 'cartpipe-moto';

  beforeAll(async () => {
    moto = await startMoto();
    const client = { region: MOTO_REGION, endpoint: moto.endpoint, credentials: MOTO_CREDENTIALS };
    const s3 = new S3Client({ ...client, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'incoming/moto-1/orders.csv',
        Body: 'order_id\n1\n',
      }),
    );
    const dynamo = new DynamoDBClient(client);
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'cartpipe-runs',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: TABLE_KEYS.runs.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: TABLE_KEYS.runs.partitionKey, KeyType: 'HASH' }],
      }),
    );
    ecs = new ECSClient(client);
    await ecs.send(new CreateClusterCommand({ clusterName: 'cartpipe' }));
    for (const stage of STAGES)
      await ecs.send(
        new RegisterTaskDefinitionCommand({
          family: `cartpipe-${stage}`,
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
          cpu: '512',
          memory: '1024',
          containerDefinitions: [
            { name: 'job', image: 'cartpipe:test', essential: true, cpu: 512, memory: 1024 },
          ],
        }),
      );
    const topic = await new SNSClient(client).send(
      new CreateTopicCommand({ Name: 'cartpipe-runs' }),
    );
    const subnet = /<subnetId>(subnet-[0-9a-f]+)</.exec(await moto.ec2('DescribeSubnets'))![1]!;
    const group = /<groupId>(sg-[0-9a-f]+)</.exec(await moto.ec2('DescribeSecurityGroups'))![1]!;
    // What terraform/locals.tf lambda_environment gives the function, plus moto's endpoints.
    Object.assign(process.env, {
      AWS_REGION: MOTO_REGION,
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: moto.endpoint,
      AWS_ENDPOINT_URL_ECS: moto.endpoint,
      AWS_ENDPOINT_URL_SNS: moto.endpoint,
      CARTPIPE_BUCKET: bucket,
      CARTPIPE_RUNS_TABLE: 'cartpipe-runs',
      CARTPIPE_TOPIC_ARN: topic.TopicArn!,
      CARTPIPE_ECS_CLUSTER: 'cartpipe',
      CARTPIPE_TASK_DEFINITION_PREFIX: 'cartpipe',
      CARTPIPE_SUBNETS: subnet,
      CARTPIPE_SECURITY_GROUPS: group,
      CARTPIPE_ASSIGN_PUBLIC_IP: 'DISABLED',
      CARTPIPE_LOG_LEVEL: 'error',
    });
    ({ handler } = await import('../../lambdas/orchestrator.js'));
  });
  afterAll(async () => {
    process.env = saved;
    ecs?.destroy();
    await moto?.stop();
  });

  async function tasks(): Promise<Task[]> {
    const arns = (await ecs.send(new ListTasksCommand({ cluster: 'cartpipe' }))).taskArns ?? [];
    if (arns.length === 0) return [];
    const described = await ecs.send(
      new DescribeTasksCommand({ cluster: 'cartpipe', tasks: arns }),
    );
    return described.tasks ?? [];
  }

  /** The EventBridge event ECS emits when `task` stops after its container exited with `exitCode`. */
  function stoppedEvent(task: Task, exitCode: number): unknown {
    const detail = JSON.parse(JSON.stringify(task)) as Record<string, unknown> & {
      containers: object[];
    };
    return {
      version: '0',
      id: 'e0c8b5a4-1111-2222-3333-444455556666',
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: '123456789012',
      time: new Date().toISOString(),
      region: MOTO_REGION,
      resources: [task.taskArn],
      detail: {
        ...detail,
        lastStatus: 'STOPPED',
        desiredStatus: 'STOPPED',
        stopCode: 'EssentialContainerExited',
        stoppedReason: 'Essential container in task exited',
        containers: detail.containers.map((c) => ({ ...c, lastStatus: 'STOPPED', exitCode })),
      },
    };
  }

  it('creates the run from the S3 event, launches each stage on its STOPPED event, and publishes once', async () => {
    const s3 = new S3Client({
      region: MOTO_REGION,
      endpoint: moto.endpoint,
      credentials: MOTO_CREDENTIALS,
      forcePathStyle: true,
    });
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'metadata/moto-1.json',
        Body: '{"dataset":"thelook"}',
      }),
    );
    s3.destroy();
    const runId = runIdOf({ key: 'metadata/moto-1.json', etag: put.ETag! });
    // As S3 sends it: key URL-encoded, ETag without quotes.
    const s3Event = {
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          awsRegion: MOTO_REGION,
          eventTime: new Date().toISOString(),
          eventName: 'ObjectCreated:Put',
          s3: {
            s3SchemaVersion: '1.0',
            bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
            object: {
              key: 'metadata/moto-1.json',
              size: 21,
              eTag: put.ETag!.replace(/"/g, ''),
              sequencer: '0065A1',
            },
          },
        },
      ],
    };
    await handler(s3Event);
    await handler(s3Event); // S3 delivers at least once
    let all = await tasks();
    expect(all).toHaveLength(1);
    expect(all[0]!.group).toBe('family:cartpipe-upload');
    expect(all[0]!.startedBy).toBe('cartpipe/upload/1');
    expect(all[0]!.overrides?.containerOverrides).toEqual([
      { name: 'job', environment: [{ name: 'RUN_ID', value: runId }] },
    ]);

    const events = [stoppedEvent(all[0]!, 0)];
    await handler(events[0]);
    all = await tasks();
    const validate = all.find((t) => t.group === 'family:cartpipe-validate')!;
    expect(validate.startedBy).toBe('cartpipe/validate/1');
    events.push(stoppedEvent(validate, 0));
    await handler(events[1]);
    await handler(events[0]); // late duplicate of upload's event
    all = await tasks();
    expect(all.map((t) => t.group).sort()).toEqual([
      'family:cartpipe-compute-kpi',
      'family:cartpipe-upload',
      'family:cartpipe-validate',
    ]);
    const compute = all.find((t) => t.group === 'family:cartpipe-compute-kpi')!;
    events.push(stoppedEvent(compute, 0));
    await handler(events[2]);
    for (const event of [...events].reverse()) await handler(event);
    expect(await tasks()).toHaveLength(3);

    const topics = (await moto.data()).sns!.Topic as { sent_notifications: unknown[][] }[];
    const sent = topics[0]!.sent_notifications;
    expect(sent).toHaveLength(1);
    expect(sent[0]![2]).toBe('[cartpipe] SUCCEEDED thelook batch moto-1');
    expect(sent[0]![1]).toContain(`Run ${runId} SUCCEEDED: dataset thelook, batch moto-1`);
    expect(sent[0]![1]).toContain(`s3://${bucket}/runs/${runId}/report.json`);
    expect(sent[0]![3]).toEqual({
      status: { Type: 'String', Value: 'SUCCEEDED' },
      dataset: { Type: 'String', Value: 'thelook' },
    });
  });
});
