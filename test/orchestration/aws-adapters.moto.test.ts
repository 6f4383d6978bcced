import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateClusterCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { CreateBucketCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { submitCommand } from '../../src/cli/orchestration-commands.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import { SAMPLE } from './support.js';
import { EcsTaskLauncher, type EcsLauncherConfig } from '../../src/adapters/aws/ecs-launcher.js';
import { SnsNotifier, snsClient } from '../../src/adapters/aws/sns-notifier.js';
import { STAGES } from '../../src/contracts/layout.js';
import { clientTokenFor, startedByFor } from '../../src/orchestrator/events.js';
import type { LaunchRequest } from '../../src/ports/task-launcher.js';
import {
  MOTO_CREDENTIALS,
  MOTO_REGION,
  motoRequired,
  startMoto,
  type Moto,
} from '../helpers/moto.js';

const describeMoto = motoRequired() ? describe : describe.skip;

function ecs(endpoint: string, captured?: unknown[]): ECSClient {
  const client = new ECSClient({
    region: MOTO_REGION,
    endpoint,
    credentials: MOTO_CREDENTIALS,
    maxAttempts: 1,
  });
  if (captured)
    client.middlewareStack.add(
      (next) => async (args) => {
        // The serialized JSON the SDK is about to send (a string-like adapter object).
        const body = (args.request as { body?: unknown }).body;
        if (body !== undefined) captured.push(JSON.parse(String(body)));
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureRequest' },
    );
  return client;
}

const request = (
  runId: string,
  stage: (typeof STAGES)[number],
  attempt: number,
): LaunchRequest => ({
  runId,
  stage,
  attempt,
  clientToken: clientTokenFor(runId, stage, attempt),
  startedBy: startedByFor(stage, attempt),
});

describeMoto('the ECS launcher and the SNS notifier against moto_server', () => {
  let moto: Moto;
  let config: EcsLauncherConfig;
  beforeAll(async () => {
    moto = await startMoto();
    const client = ecs(moto.endpoint);
    await client.send(new CreateClusterCommand({ clusterName: 'cartpipe' }));
    for (const stage of STAGES)
      await client.send(
        new RegisterTaskDefinitionCommand({
          family: `cartpipe-${stage}`,
          requiresCompatibilities: ['FARGATE'],
          networkMode: 'awsvpc',
          cpu: '512',
          memory: '1024',
          containerDefinitions: [
            {
              name: 'job',
              image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/cartpipe:test',
              essential: true,
              cpu: 512,
              memory: 1024,
              command: ['node', `dist/jobs/${stage}.js`],
            },
          ],
        }),
      );
    client.destroy();
    // moto checks that the subnets exist: use its default VPC's.
    const subnets = [
      ...(await moto.ec2('DescribeSubnets')).matchAll(/<subnetId>(subnet-[0-9a-f]+)</g),
    ];
    const groups = [
      ...(await moto.ec2('DescribeSecurityGroups')).matchAll(/<groupId>(sg-[0-9a-f]+)</g),
    ];
    config = {
      cluster: 'cartpipe',
      taskDefinitionPrefix: 'cartpipe',
      subnets: subnets.slice(0, 2).map((m) => m[1]!),
      securityGroups: [groups[0]![1]!],
      assignPublicIp: 'DISABLED',
    };
  });
  afterAll(async () => moto.stop());

  it('RunTask: Fargate, the stage family, the RUN_ID override on "job", startedBy and a derived client token', async () => {
    const captured: Record<string, unknown>[] = [];
    const client = ecs(moto.endpoint, captured);
    const launched = await new EcsTaskLauncher(client, config).launch(
      request('b1-0123456789ab', 'validate', 2),
    );
    expect(launched).toEqual({
      started: true,
      taskArn: expect.stringMatching(/^arn:aws:ecs:us-east-1:\d{12}:task\/cartpipe\//),
    });
    expect(captured).toHaveLength(1);
    expect(captured[0]).toEqual({
      cluster: 'cartpipe',
      taskDefinition: 'cartpipe-validate',
      launchType: 'FARGATE',
      count: 1,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: config.subnets,
          securityGroups: config.securityGroups,
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          { name: 'job', environment: [{ name: 'RUN_ID', value: 'b1-0123456789ab' }] },
        ],
      },
      startedBy: 'cartpipe/validate/2',
      clientToken: clientTokenFor('b1-0123456789ab', 'validate', 2),
    });
    expect((captured[0]!.clientToken as string).length).toBeLessThanOrEqual(64);
    expect((captured[0]!.startedBy as string).length).toBeLessThanOrEqual(36);

    // What ECS then reports about the task is what the STOPPED event will carry.
    const described = await client.send(
      new DescribeTasksCommand({
        cluster: 'cartpipe',
        tasks: [(launched as { taskArn: string }).taskArn],
      }),
    );
    const task = described.tasks![0]!;
    expect(task.overrides?.containerOverrides).toEqual([
      { name: 'job', environment: [{ name: 'RUN_ID', value: 'b1-0123456789ab' }] },
    ]);
    expect(task.startedBy).toBe('cartpipe/validate/2');
    expect(task.group).toBe('family:cartpipe-validate');
    expect(task.launchType).toBe('FARGATE');
    expect(task.taskDefinitionArn).toMatch(/:task-definition\/cartpipe-validate:\d+$/);
    client.destroy();
  });

  it('a RunTask that ECS rejects (no such task definition) is a launch refused for good', async () => {
    const client = ecs(moto.endpoint);
    const launched = await new EcsTaskLauncher(client, {
      ...config,
      taskDefinitionPrefix: 'missing',
    }).launch(request('r', 'upload', 1));
    expect(launched).toEqual({
      started: false,
      retryable: false,
      reason: expect.stringMatching(/^RunTask ClientException: /),
    });
    client.destroy();
  });

  it('SNS Publish: the subject, the text, and status and dataset as String attributes', async () => {
    const client = snsClient(MOTO_REGION, moto.endpoint, MOTO_CREDENTIALS);
    const topic = await client.send(new CreateTopicCommand({ Name: 'cartpipe-runs' }));
    const notifier = new SnsNotifier(client, topic.TopicArn!);
    const text =
      'Run r1 FAILED: dataset thelook, batch 2025-04-01-a, 1.0s\nFailed in upload: binary_file: x\n';
    const { messageId } = await notifier.publish({
      runId: 'r1',
      subject: '[cartpipe] FAILED thelook batch 2025-04-01-a at upload',
      text,
      attributes: { status: 'FAILED', dataset: 'thelook' },
    });
    const topics = (await moto.data()).sns!.Topic as { sent_notifications: unknown[][] }[];
    expect(topics[0]!.sent_notifications).toEqual([
      [
        messageId,
        text,
        '[cartpipe] FAILED thelook batch 2025-04-01-a at upload',
        {
          status: { Type: 'String', Value: 'FAILED' },
          dataset: { Type: 'String', Value: 'thelook' },
        },
        null,
      ],
    ]);
    client.destroy();
  });

  it('cartpipe submit --bucket puts the files under incoming/<batch>/, then the manifest, and names the run', async () => {
    // An AWS bucket is reached with the SDK's default credentials: here, the environment's.
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_S3: moto.endpoint,
    });
    try {
      const s3 = new S3Client({
        region: MOTO_REGION,
        endpoint: moto.endpoint,
        credentials: MOTO_CREDENTIALS,
        forcePathStyle: true,
      });
      await s3.send(new CreateBucketCommand({ Bucket: 'pipeline' }));
      const printed: string[] = [];
      const argv = [
        '--dataset',
        'thelook',
        '--batch',
        'b-7',
        '--bucket',
        'pipeline',
        '--region',
        MOTO_REGION,
        SAMPLE,
      ];
      expect(await submitCommand(argv, (t) => printed.push(t))).toBe(0);
      for (const key of [
        'incoming/b-7/products.csv',
        'incoming/b-7/orders/orders_part1.csv',
        'incoming/b-7/order_items/order_items_part1.csv',
      ])
        await expect(
          s3.send(new HeadObjectCommand({ Bucket: 'pipeline', Key: key })),
        ).resolves.toBeDefined();
      const manifest = await s3.send(
        new HeadObjectCommand({ Bucket: 'pipeline', Key: 'metadata/b-7.json' }),
      );
      const runId = runIdOf({ key: 'metadata/b-7.json', etag: manifest.ETag! });
      expect(printed.join('\n')).toContain(
        `run ${runId} starts when the orchestrator Lambda receives`,
      );
      // the same batch name again is refused rather than silently ignored as a duplicate
      await expect(submitCommand(argv, () => undefined)).rejects.toThrow(
        /batch b-7 was submitted before/,
      );
      s3.destroy();
    } finally {
      process.env = saved;
    }
  });
});

/** ECS answers moto does not produce: a 200 with failures[] and a throttled call. */
describe('the ECS launcher on answers only real ECS gives', () => {
  let server: Server;
  let answer: { status: number; body: unknown };
  let endpoint: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((done) => server.close(() => done())));

  const launcher = () =>
    new EcsTaskLauncher(ecs(endpoint), {
      cluster: 'c',
      taskDefinitionPrefix: 'cartpipe',
      subnets: ['subnet-1'],
      securityGroups: [],
      assignPublicIp: 'ENABLED',
    });

  it('treats a successful response with failures[] and no task as a launch that did not start', async () => {
    answer = {
      status: 200,
      body: {
        tasks: [],
        failures: [
          {
            arn: 'arn:aws:ecs:us-east-1:1:cluster/c',
            reason:
              'Capacity is unavailable at this time. Please try again later or in a different availability zone',
          },
        ],
      },
    };
    expect(await launcher().launch(request('r', 'upload', 1))).toEqual({
      started: false,
      retryable: true,
      reason:
        'RunTask failures: Capacity is unavailable at this time. Please try again later or in a different availability zone on arn:aws:ecs:us-east-1:1:cluster/c',
    });
  });

  it('treats throttling as retryable and a bad parameter as not', async () => {
    answer = { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } };
    expect(await launcher().launch(request('r', 'upload', 1))).toEqual({
      started: false,
      retryable: true,
      reason: 'RunTask ThrottlingException: Rate exceeded',
    });
    answer = {
      status: 400,
      body: { __type: 'InvalidParameterException', message: 'subnet not in VPC' },
    };
    expect(await launcher().launch(request('r', 'upload', 1))).toMatchObject({
      started: false,
      retryable: false,
    });
  });
});
