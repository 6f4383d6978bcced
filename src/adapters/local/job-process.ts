/**
 * Runs a stage job as a child process, the local stand-in for a Fargate task: the same compiled
 * entry point (dist/jobs/<stage>.js) with the environment a task definition would give it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stage } from '../../contracts/layout.js';
import { OrchestrationError } from '../../errors.js';
import { JOB_PROCESS_ENV, jobNodeFlags } from '../../workers/heap.js';

/** The project root: the nearest folder above this module holding package.json. */
export function projectRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
  return dir;
}

export function jobEntryPoint(stage: Stage): string {
  const path = join(projectRoot(), 'dist', 'jobs', `${stage}.js`);
  if (!existsSync(path)) {
    throw new OrchestrationError(
      'job_not_built',
      `${path} does not exist: run \`make build\` (npm run build) first`,
    );
  }
  return path;
}

export interface JobExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines the job wrote to stderr (its structured log). */
  stderrTail: string[];
  /** The job's TMPDIR, removed once it exited, however it exited (absent: no process of its own). */
  scratch?: string;
}

export interface JobProcessOptions {
  env: Record<string, string>;
  /** Receives each stderr line as it arrives. */
  onLog?: (line: string) => void;
  /** Called with the child once spawned (tests kill it at chosen points). */
  onSpawn?: (pid: number, kill: (signal: NodeJS.Signals) => void) => void;
}

export function runJobProcess(stage: Stage, options: JobProcessOptions): Promise<JobExit> {
  const entry = jobEntryPoint(stage);
  // A task's local disk lives and dies with it, as a Fargate task's ephemeral storage does: a job
  // killed mid-write (validate's spill files, parts waiting for upload) leaves nothing behind.
  const scratch = mkdtempSync(join(tmpdir(), `cartpipe-${stage}-task-`));
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [...jobNodeFlags(stage), entry], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        TMPDIR: scratch,
        ...JOB_PROCESS_ENV,
        ...options.env,
      },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    const tail: string[] = [];
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 50) tail.shift();
        options.onLog?.(line);
      }
    });
    child.once('error', (error) => {
      removeScratch();
      fail(error);
    });
    child.once('spawn', () => options.onSpawn?.(child.pid!, (signal) => child.kill(signal)));
    child.once('close', (exitCode, signal) => {
      if (partial) tail.push(partial);
      removeScratch();
      done({ exitCode, signal, stderrTail: tail, scratch });
    });
  });
}
