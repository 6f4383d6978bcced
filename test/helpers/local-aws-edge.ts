/**
 * SNS Publish and ECS RunTask served on 127.0.0.1 for the local runtime, so that the real AWS
 * adapters (SnsNotifier, EcsTaskLauncher) with their real SDK clients and retry settings can be
 * put behind the fault proxy like S3 and DynamoDB: Publish records the message (the e-mail the
 * run would send), RunTask hands the request to a TaskLauncher (the local one runs the job as a
 * child process and reports its STOPPED event), both answering as the services do.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { STAGES } from '../../src/contracts/layout.js';
import type { TaskLauncher } from '../../src/ports/task-launcher.js';

export interface PublishedMessage {
  messageId: string;
  topicArn: string;
  subject: string;
  message: string;
  attributes: Record<string, string>;
}

export interface LocalAwsEdge {
  readonly url: string;
  /** Every message SNS accepted, in order. */
  readonly published: PublishedMessage[];
  /** RunTask calls that reached the server (retries included). */
  readonly runTaskCalls: number;
  close(): Promise<void>;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, type: string, body: string) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Starts the edge. `launcher` is asked lazily (the local one is created with the orchestration).
 * @example const edge = await startLocalAwsEdge({ launcher: () => orchestration.localLauncher, taskDefinitionPrefix: 'cartpipe' });
 */
export async function startLocalAwsEdge(options: {
  launcher: () => TaskLauncher;
  taskDefinitionPrefix: string;
}): Promise<LocalAwsEdge> {
  const published: PublishedMessage[] = [];
  let runTaskCalls = 0;
  const sockets = new Set<Socket>();

  const publish = (form: URLSearchParams, res: ServerResponse) => {
    const attributes: Record<string, string> = {};
    for (let i = 1; form.has(`MessageAttributes.entry.${i}.Name`); i++) {
      attributes[form.get(`MessageAttributes.entry.${i}.Name`)!] =
        form.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? '';
    }
    const messageId = randomUUID();
    published.push({
      messageId,
      topicArn: form.get('TopicArn') ?? '',
      subject: form.get('Subject') ?? '',
      message: form.get('Message') ?? '',
      attributes,
    });
    send(
      res,
      200,
      'text/xml',
      `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${messageId}</MessageId></PublishResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
    );
  };

  const runTask = async (input: Record<string, unknown>, res: ServerResponse) => {
    runTaskCalls += 1;
    const family = String(input.taskDefinition ?? '');
    const stage = STAGES.find((s) => family === `${options.taskDefinitionPrefix}-${s}`);
    const startedBy = String(input.startedBy ?? '');
    const overrides = input.overrides as
      { containerOverrides?: { environment?: { name: string; value: string }[] }[] } | undefined;
    const runId = overrides?.containerOverrides?.[0]?.environment?.find(
      (e) => e.name === 'RUN_ID',
    )?.value;
    const attempt = Number(/\/(\d+)$/.exec(startedBy)?.[1]);
    if (!stage || !runId || !Number.isInteger(attempt)) {
      send(
        res,
        400,
        'application/x-amz-json-1.1',
        JSON.stringify({ __type: 'InvalidParameterException', message: `bad RunTask ${family}` }),
      );
      return;
    }
    const result = await options.launcher().launch({
      runId,
      stage,
      attempt,
      clientToken: String(input.clientToken ?? ''),
      startedBy,
    });
    const body = result.started
      ? { tasks: [{ taskArn: result.taskArn, lastStatus: 'PROVISIONING' }], failures: [] }
      : { tasks: [], failures: [{ reason: result.reason }] };
    send(res, 200, 'application/x-amz-json-1.1', JSON.stringify(body));
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await bodyOf(req);
      const target = String(req.headers['x-amz-target'] ?? '');
      if (target.endsWith('.RunTask'))
        return runTask(JSON.parse(body) as Record<string, unknown>, res);
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'Publish') return publish(form, res);
      send(res, 400, 'text/plain', `unsupported request ${target || form.get('Action')}`);
    })().catch((error: unknown) => {
      send(res, 500, 'text/plain', String(error));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    published,
    get runTaskCalls() {
      return runTaskCalls;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
