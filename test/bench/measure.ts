/**
 * Measuring helpers for the benchmark: child processes (optionally pinned to CPUs with taskset),
 * folder sizes, medians, and a summary of V8 CPU profiles (self time by function and by file).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface ChildRun {
  exitCode: number | null;
  /** Wall time of the whole child, process start included. */
  wallMs: number;
  stderrTail: string;
}

/**
 * Runs `node <script> ...args`; `cpus` pins it with taskset (e.g. "0" for one core).
 * @example
 * await runNode('dist/test/bench/stage-child.js', ['--stage', 'upload'], { cpus: '0' });
 */
export function runNode(
  script: string,
  args: readonly string[],
  options: { cpus?: string; nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<ChildRun> {
  const nodeCommand = [process.execPath, ...(options.nodeArgs ?? []), script, ...args];
  const [command, ...argv] = options.cpus
    ? ['taskset', '-c', options.cpus, ...nodeCommand]
    : nodeCommand;
  const started = performance.now();
  return new Promise((done, fail) => {
    const child = spawn(command!, argv, {
      env: options.env ?? process.env,
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    let tail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
    });
    child.once('error', fail);
    child.once('close', (exitCode) =>
      done({ exitCode, wallMs: performance.now() - started, stderrTail: tail }),
    );
  });
}

/** Bytes of every file under `dir` (0 when it does not exist). */
export function folderBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += folderBytes(path);
    else if (e.isFile()) total += statSync(path).size;
  }
  return total;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by function, largest first. */
  functions: { name: string; where: string; ms: number; share: number }[];
  /** Self time by source file or package, largest first. */
  files: { file: string; ms: number; share: number }[];
  /** Time with a frame of the file or package anywhere on the stack (callees included). */
  filesInclusive: { file: string; ms: number; share: number }[];
}

/** Where a frame's code lives: a package name, a project path, or a V8 category. */
export function sourceOf(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return pkg[1]!;
  if (path.startsWith('node:')) return path;
  const project = /\/dist\/(.*)$/.exec(path);
  return project ? project[1]!.replace(/\.js$/, '.ts') : path;
}

/** Self-time summary of a .cpuprofile written by `node --cpu-prof`. */
export function summariseCpuProfile(path: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Frames without a URL are V8's own buckets ((garbage collector), (idle)) or builtins.
  const fileOf = (frame: ProfileNode['callFrame']) =>
    frame.url
      ? sourceOf(frame.url)
      : frame.functionName.startsWith('(')
        ? frame.functionName
        : '(builtins)';
  const fns = new Map<string, { name: string; where: string; ms: number }>();
  const files = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.functionName !== '(root)') onStack.add(fileOf(frame));
    }
    for (const f of onStack) inclusive.set(f, (inclusive.get(f) ?? 0) + ms);
    const frame = byId.get(id)!.callFrame;
    const name = frame.functionName || '(anonymous)';
    const file = fileOf(frame);
    const where = frame.url ? `${file}:${frame.lineNumber + 1}` : file;
    const key = `${name}@${where}`;
    const entry = fns.get(key) ?? { name, where, ms: 0 };
    entry.ms += ms;
    fns.set(key, entry);
    files.set(file, (files.get(file) ?? 0) + ms);
    totalMs += ms;
  }
  const share = (ms: number) => Math.round((ms / totalMs) * 1000) / 10;
  return {
    totalMs: Math.round(totalMs),
    functions: [...fns.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((f) => ({ ...f, ms: Math.round(f.ms), share: share(f.ms) })),
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([file, ms]) => ({ file, ms: Math.round(ms), share: share(ms) })),
    filesInclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([file, ms]) => ({ file, ms: Math.round(ms), share: share(ms) })),
  };
}
