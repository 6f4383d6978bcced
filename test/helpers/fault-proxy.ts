/**
 * A fault-injecting HTTP proxy in front of a local S3 (s3rver) or DynamoDB (dynalite) server.
 * Clients (the jobs, the orchestrator) are pointed at it through AWS_ENDPOINT_URL_S3 /
 * AWS_ENDPOINT_URL_DYNAMODB; it forwards every request unchanged (the Host header too, so S3
 * signatures still verify) and, drawing from a seeded generator, answers some of them itself
 * the way AWS does when it is unwell:
 * - throttle: S3 503 SlowDown (XML), DynamoDB 400 ThrottlingException (JSON);
 * - error: 500 InternalError / 503 ServiceUnavailable, before the server sees the request;
 * - timeout: no answer at all for `stallMs` (set it above the client's socket timeout);
 * - drop: the connection is cut, either before the request is forwarded or after the server
 *   answered, half-way through the response body (the write happened, the client cannot know).
 * A hook sees every request first and can hold it or withhold its answer, so a test can kill a
 * job process at its k-th request, before or after the server acted on it.
 */
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from './random.js';

export type FaultKind = 'throttle' | 'error' | 'timeout' | 'drop';
export const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'error', 'timeout', 'drop'];

/** Probability of each fault per eligible request (their sum at most 1). */
export type FaultRates = Partial<Record<FaultKind, number>>;

/** `rate` spread evenly over the four kinds. */
export function evenRates(rate: number): FaultRates {
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, rate / FAULT_KINDS.length]));
}

export type ProxiedService = 's3' | 'dynamodb' | 'sns' | 'ecs';

export interface ProxiedRequest {
  /** 1-based count of requests through this proxy. */
  n: number;
  method: string;
  path: string;
  /** S3: "<METHOD> <key or bucket>", DynamoDB: the operation (PutItem, Query, ...). */
  operation: string;
}

/**
 * What to do with a request, decided by the hook before any random fault:
 * - 'forward' / undefined: proceed (random faults may still apply);
 * - 'pass': forward, exempt from random faults;
 * - 'hold': never forward, never answer (the server never sees it);
 * - 'withhold': forward, then never relay the answer (the server acted; the client waits);
 * - a fault kind: inject that fault now.
 */
export type RequestAction = 'forward' | 'pass' | 'hold' | 'withhold' | FaultKind | undefined;

export interface FaultProxyOptions {
  service: ProxiedService;
  /** The real server, e.g. http://127.0.0.1:4569. */
  target: string;
  seed?: number;
  rates?: FaultRates;
  /** How long a 'timeout' fault leaves the client without an answer before closing (ms). */
  stallMs?: number;
  /** Sees each request first (e.g. kills a process at the k-th). */
  onRequest?: (request: ProxiedRequest) => RequestAction;
  /** Called once the server answered a withheld request. */
  onWithheld?: (request: ProxiedRequest) => void;
  /** Requests eligible for random faults (default: all). */
  eligible?: (request: ProxiedRequest) => boolean;
  /**
   * Whether a 'drop' may cut the answer after the server acted (default true). Off for SNS:
   * Publish has no idempotency token on standard topics, so a retry after a lost answer sends
   * the message twice there too; the tests inject only faults AWS answers without acting.
   */
  ambiguousDrops?: boolean;
}

export interface FaultRecord {
  n: number;
  operation: string;
  fault: FaultKind | 'hold' | 'withhold';
  /** For drops: whether the server had acted before the connection was cut. */
  afterServer?: boolean;
}

export interface FaultProxy {
  readonly url: string;
  /** Requests seen. */
  readonly requests: number;
  /** Every injected fault, in order. */
  readonly faults: readonly FaultRecord[];
  /** Faults injected, by kind. */
  counts(): Record<FaultKind, number>;
  setRates(rates: FaultRates): void;
  /** Replaces the request hook (and the withheld-answer callback). */
  setHook(hook: FaultProxyOptions['onRequest'], onWithheld?: FaultProxyOptions['onWithheld']): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);

function forwardedHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.has(k)));
}

function operationOf(service: ProxiedService, req: IncomingMessage): string {
  if (service === 'dynamodb' || service === 'ecs') {
    const target = String(req.headers['x-amz-target'] ?? '');
    return target.replace(/^.*\./, '') || `${req.method} ${req.url}`;
  }
  const path = decodeURIComponent((req.url ?? '/').replace(/\?.*$/, ''));
  const query = (req.url ?? '').includes('?') ? ` ?${(req.url ?? '').replace(/^.*\?/, '')}` : '';
  return `${req.method} ${path}${query.length > 60 ? `${query.slice(0, 60)}...` : query}`;
}

interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** An error response as the service sends it: S3 XML, SNS query XML, DynamoDB and ECS JSON. */
function errorBody(service: ProxiedService, kind: 'throttle' | 'error', alt: boolean): ErrorAnswer {
  const requestId = randomUUID();
  if (service === 's3') {
    const [status, code, message] =
      kind === 'throttle'
        ? [503, 'SlowDown', 'Please reduce your request rate.']
        : alt
          ? [503, 'ServiceUnavailable', 'Service is unable to handle request.']
          : [500, 'InternalError', 'We encountered an internal error. Please try again.'];
    return {
      status,
      headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`,
    };
  }
  if (service === 'sns') {
    const [status, type, code, message] =
      kind === 'throttle'
        ? [400, 'Sender', 'Throttling', 'Rate exceeded']
        : alt
          ? [503, 'Receiver', 'ServiceUnavailable', 'Service Unavailable']
          : [500, 'Receiver', 'InternalError', 'Internal Error'];
    return {
      status,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
      body: `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
    };
  }
  if (service === 'ecs') {
    const [status, type, message] =
      kind === 'throttle'
        ? [400, 'ThrottlingException', 'Rate exceeded']
        : [500, 'ServerException', 'Service encountered an internal error.'];
    return {
      status,
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': requestId },
      body: JSON.stringify({ __type: type, message }),
    };
  }
  const [status, type, message] =
    kind === 'throttle'
      ? alt
        ? [
            400,
            'ProvisionedThroughputExceededException',
            'The level of configured provisioned throughput for the table was exceeded.',
          ]
        : [400, 'ThrottlingException', 'Rate of requests exceeds the allowed throughput.']
      : alt
        ? [503, 'ServiceUnavailable', 'Service Unavailable']
        : [500, 'InternalServerError', 'Internal server error'];
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
    body: JSON.stringify({
      __type: `com.amazonaws.dynamodb.v20120810#${type}`,
      message,
    }),
  };
}

/**
 * Starts a proxy on 127.0.0.1 (random port) in front of `options.target`.
 * @example
 * const proxy = await startFaultProxy({ service: 's3', target: runtime.s3Endpoint, seed: 7, rates: evenRates(0.1) });
 * // AWS_ENDPOINT_URL_S3 = proxy.url
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed ?? 1);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let rates: FaultRates = { ...options.rates };
  let hook = options.onRequest;
  let onWithheld = options.onWithheld;
  let requests = 0;
  const faults: FaultRecord[] = [];

  const drain = (req: IncomingMessage) =>
    new Promise<void>((done) => {
      req.on('end', done);
      req.on('error', () => done());
      req.on('close', () => done());
      req.resume();
    });

  const stall = (req: IncomingMessage, ms: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      req.socket.destroy();
    }, ms);
    timers.add(timer);
    req.socket.once('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  };

  const chooseFault = (request: ProxiedRequest): FaultKind | undefined => {
    if (options.eligible && !options.eligible(request)) return undefined;
    let draw = random();
    for (const kind of FAULT_KINDS) {
      const rate = rates[kind] ?? 0;
      if (draw < rate) return kind;
      draw -= rate;
    }
    return undefined;
  };

  /** Forwards the request; resolves with the server's whole answer. */
  const forward = (req: IncomingMessage) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((done, fail) => {
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: forwardedHeaders(req.headers),
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            done({
              status: res.statusCode ?? 502,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', fail);
        },
      );
      upstream.on('error', fail);
      req.on('error', (e) => upstream.destroy(e));
      req.pipe(upstream);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const request: ProxiedRequest = {
      n: ++requests,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      operation: operationOf(options.service, req),
    };
    const decided = hook?.(request);
    const fault: RequestAction =
      decided === 'pass'
        ? 'forward'
        : decided && decided !== 'forward'
          ? decided
          : chooseFault(request);

    if (fault === 'hold') {
      faults.push({ n: request.n, operation: request.operation, fault });
      req.resume();
      return; // the socket stays open until the client (or its process) goes away
    }
    if (fault === 'throttle' || fault === 'error') {
      faults.push({ n: request.n, operation: request.operation, fault });
      await drain(req);
      const answer = errorBody(options.service, fault, random() < 0.5);
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-length': Buffer.byteLength(answer.body),
      });
      res.end(answer.body);
      return;
    }
    if (fault === 'timeout') {
      faults.push({ n: request.n, operation: request.operation, fault });
      req.resume();
      stall(req, options.stallMs ?? 5000);
      return;
    }
    const dropBefore = fault === 'drop' && (options.ambiguousDrops === false || random() < 0.5);
    if (dropBefore) {
      faults.push({
        n: request.n,
        operation: request.operation,
        fault: 'drop',
        afterServer: false,
      });
      req.socket.destroy();
      return;
    }
    let answer;
    try {
      answer = await forward(req);
    } catch {
      req.socket.destroy(); // the server went away (a test stopping): so does the client's socket
      return;
    }
    if (fault === 'withhold') {
      faults.push({ n: request.n, operation: request.operation, fault });
      onWithheld?.(request);
      return;
    }
    const headers = forwardedHeaders(answer.headers);
    if (fault === 'drop') {
      faults.push({ n: request.n, operation: request.operation, fault: 'drop', afterServer: true });
      // Headers and half the body, then the connection is cut.
      res.writeHead(answer.status, { ...headers, 'content-length': answer.body.length });
      res.write(answer.body.subarray(0, Math.floor(answer.body.length / 2)), () =>
        req.socket.destroy(),
      );
      if (answer.body.length < 2) req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, { ...headers, 'content-length': answer.body.length });
    res.end(answer.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    faults,
    counts() {
      const out = { throttle: 0, error: 0, timeout: 0, drop: 0 };
      for (const f of faults) if (f.fault in out) out[f.fault as FaultKind] += 1;
      return out;
    },
    setRates(next) {
      rates = { ...next };
    },
    setHook(next, withheld) {
      hook = next;
      onWithheld = withheld;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
