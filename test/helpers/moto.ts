/**
 * moto_server as a child process on a free port: the higher-fidelity tier for the AWS adapters
 * (S3, DynamoDB, SNS, ECS and EC2 on one endpoint). Tests of this tier run when moto_server is
 * on PATH, and must run on CI (CI=true): there a missing moto_server is a failure, not a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;
export const MOTO_REGION = 'us-east-1';

export interface Moto {
  endpoint: string;
  /** moto's internal state (/moto-api/data.json): e.g. SNS sent_notifications. */
  data(): Promise<Record<string, Record<string, unknown[]>>>;
  /** An EC2 Query API call (no EC2 SDK client is installed): returns the XML answer. */
  ec2(action: string, params?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

/** Whether moto_server can be started here. */
export function motoAvailable(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
}

/** True when the moto tier must run: on CI, or when moto_server is installed. */
export function motoRequired(): boolean {
  return Boolean(process.env.CI) || motoAvailable();
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitUntilServing(endpoint: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((next) => setTimeout(next, 100));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within 60s`);
}

/**
 * Starts `moto_server -p <free port>` and waits until it answers.
 * @example const moto = await startMoto(); ...; await moto.stop();
 */
export async function startMoto(): Promise<Moto> {
  if (!motoAvailable())
    throw new Error('moto_server is not installed (pip install "moto[server]"); CI requires it');
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  try {
    await waitUntilServing(endpoint, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  return {
    endpoint,
    async data() {
      const response = await fetch(`${endpoint}/moto-api/data.json`);
      return (await response.json()) as Record<string, Record<string, unknown[]>>;
    },
    async ec2(action, params = {}) {
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          // moto routes by the credential scope's service name; it does not check signatures.
          authorization: `AWS4-HMAC-SHA256 Credential=${MOTO_CREDENTIALS.accessKeyId}/20250101/${MOTO_REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
        },
        body: new URLSearchParams({ Action: action, Version: '2016-11-15', ...params }).toString(),
      });
      return response.text();
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
