/**
 * The deployment tooling around terraform/: `make plan` / `make deploy` stop at once, saying
 * what is missing, on a machine without terraform, the AWS CLI, credentials or Docker; `make
 * package` builds a reproducible Lambda zip whose bundle loads; the Dockerfile builds one image
 * for every stage as the task definitions run it.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { STAGES } from '../../src/contracts/layout.js';
import { JOB_PROCESS_ENV, jobNodeFlags } from '../../src/workers/heap.js';
import { loadTerraform, localValue, resource, ROOT, type TfModule } from './terraform.js';

let work: string;
let tf: TfModule;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cartpipe-infra-'));
  tf = await loadTerraform();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A stand-in command that logs its arguments to <name>.log and answers per `script`. */
function stub(name: string, script: string): string {
  const path = join(work, name);
  writeFileSync(path, `#!/bin/sh\necho "$@" >> "${path}.log"\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

function make(target: string, vars: Record<string, string>) {
  const started = Date.now();
  const result = spawnSync(
    'make',
    [
      '--no-print-directory',
      '-f',
      'mk/deploy.mk',
      target,
      ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
    ],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, AWS_PROFILE: '', AWS_ACCESS_KEY_ID: '', IMAGE_TAG: '' },
    },
  );
  return {
    ...result,
    seconds: (Date.now() - started) / 1000,
    output: `${result.stdout}${result.stderr}`,
  };
}

const hasMake = spawnSync('make', ['--version']).status === 0;

(hasMake ? describe : describe.skip)('make plan / deploy / push / destroy preconditions', () => {
  it.each(['plan', 'deploy', 'destroy', 'push'])(
    'make %s without terraform stops at once and says so',
    (target) => {
      const terraform = join(work, 'no-terraform-here');
      const aws = stub('aws-ok', 'echo 123456789012');
      const run = make(target, {
        TERRAFORM: terraform,
        AWS: aws,
        DOCKER: stub('docker-ok', 'exit 0'),
      });
      expect(run.status).not.toBe(0);
      expect(run.stderr).toMatch(/terraform not found/);
      expect(run.stderr).toMatch(/Install Terraform >= 1\.6/);
      expect(run.seconds).toBeLessThan(10);
      expect(existsSync(`${aws}.log`)).toBe(false); // nothing ran before the check
    },
  );

  it('make plan without the AWS CLI stops at once and says so', () => {
    const terraform = stub('terraform-1', 'exit 0');
    const run = make('plan', { TERRAFORM: terraform, AWS: join(work, 'no-aws-here') });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/the AWS CLI was not found/);
    expect(existsSync(`${terraform}.log`)).toBe(false);
  });

  it('make plan without AWS credentials stops at once and says so, before packaging or terraform', () => {
    const terraform = stub('terraform-2', 'exit 0');
    const aws = stub('aws-no-credentials', 'echo "Unable to locate credentials." >&2; exit 253');
    const run = make('plan', { TERRAFORM: terraform, AWS: aws });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/no usable AWS credentials/);
    expect(run.stderr).toMatch(/aws configure|aws sso login|AWS_PROFILE/);
    expect(readFileSync(`${aws}.log`, 'utf8')).toMatch(/sts get-caller-identity/);
    expect(existsSync(`${terraform}.log`)).toBe(false);
    expect(run.output).not.toMatch(/esbuild|package:/);
    expect(run.seconds).toBeLessThan(10);
  });

  it('make deploy without a Docker engine stops at once and says so', () => {
    const terraform = stub('terraform-3', 'exit 0');
    const aws = stub('aws-ok-2', 'echo 123456789012');
    const docker = stub(
      'docker-no-daemon',
      'echo "Cannot connect to the Docker daemon" >&2; exit 1',
    );
    const run = make('deploy', { TERRAFORM: terraform, AWS: aws, DOCKER: docker });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/engine is not reachable/);
    expect(existsSync(`${terraform}.log`)).toBe(false);
  });

  // Only once the orchestrator exists: `package` needs lambdas/orchestrator.ts.
  (existsSync(join(ROOT, 'lambdas/orchestrator.ts')) ? it : it.skip)(
    'make plan with everything present packages the Lambda, then plans with the recorded image tag',
    () => {
      const terraform = stub('terraform-4', 'exit 0');
      const tagFile = join(work, 'image-tag');
      writeFileSync(tagFile, 'abc123-20250401\n');
      const run = make('plan', {
        TERRAFORM: terraform,
        AWS: stub('aws-ok-3', 'echo 123456789012'),
        IMAGE_TAG_FILE: tagFile,
      });
      expect(run.status).toBe(0);
      const calls = readFileSync(`${terraform}.log`, 'utf8');
      expect(calls).toMatch(/-chdir=terraform init -input=false/);
      expect(calls).toMatch(/-chdir=terraform plan -input=false -var image_tag=abc123-20250401/);
    },
  );
});

describe('make package: the Lambda bundle', () => {
  const python = ['python3', 'python'].find((p) => spawnSync(p, ['--version']).status === 0);

  function packageFixture(outdir: string) {
    const run = spawnSync(
      process.execPath,
      [
        'scripts/package-lambda.mjs',
        '--entry',
        'test/infra/fixtures/handler.ts',
        '--outdir',
        outdir,
        '--name',
        'orchestrator',
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    return readFileSync(join(outdir, 'orchestrator.zip'));
  }

  it('is reproducible byte for byte, so source_code_hash changes only with the code', () => {
    const first = packageFixture(join(work, 'pkg-a'));
    const second = packageFixture(join(work, 'pkg-b'));
    expect(first.equals(second)).toBe(true);
  });

  (python ? it : it.skip)(
    'is a valid zip holding one ESM file whose handler loads and runs',
    async () => {
      const zipPath = join(work, 'pkg-a', 'orchestrator.zip');
      if (!existsSync(zipPath)) packageFixture(join(work, 'pkg-a'));
      const out = join(work, 'unzipped');
      mkdirSync(out, { recursive: true });
      const check = spawnSync(
        python!,
        [
          '-c',
          'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(z.namelist()); z.extractall(sys.argv[2])',
          zipPath,
          out,
        ],
        { encoding: 'utf8' },
      );
      expect(check.stderr).toBe('');
      expect(check.stdout.trim()).toBe("['orchestrator.mjs']");
      const bundle = (await import(pathToFileURL(join(out, 'orchestrator.mjs')).href)) as {
        handler: () => Promise<string>;
      };
      await expect(bundle.handler()).resolves.toBe('function:eu-west-3');
    },
  );
  (python && existsSync(join(ROOT, 'lambdas/orchestrator.ts')) ? it : it.skip)(
    'bundles the real orchestrator into a zip whose module loads and names missing configuration',
    async () => {
      const run = spawnSync(
        process.execPath,
        ['scripts/package-lambda.mjs', '--outdir', join(work, 'real'), '--name', 'orchestrator'],
        { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
      );
      expect(run.status).toBe(0);
      const out = join(work, 'real-unzipped');
      const unzip = spawnSync(
        python!,
        [
          '-c',
          'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
          join(work, 'real', 'orchestrator.zip'),
          out,
        ],
        { encoding: 'utf8' },
      );
      expect(unzip.status).toBe(0);
      const bundle = (await import(pathToFileURL(join(out, 'orchestrator.mjs')).href)) as Record<
        string,
        unknown
      >;
      const handlerName = String(resource(tf, 'aws_lambda_function', 'orchestrator').handler).split(
        '.',
      )[1]!;
      expect(typeof bundle[handlerName]).toBe('function');
      // Without its environment the orchestrator refuses to start, naming what is missing.
      if (typeof bundle.createOrchestrator === 'function') {
        expect(() => (bundle.createOrchestrator as (env: object) => unknown)({})).toThrow(
          /invalid configuration[\s\S]*CARTPIPE_BUCKET/,
        );
      }
    },
  );
});

describe('docker/Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'));

  it('builds on node:22-slim in stages: npm ci, build, prune to production dependencies', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-slim$/m);
    expect(instructions.filter((l) => l.startsWith('FROM')).length).toBeGreaterThanOrEqual(2);
    const run = instructions.filter((l) => l.startsWith('RUN')).join('\n');
    expect(run).toMatch(/npm ci\b/);
    expect(run).toMatch(/npm run build\b/);
    expect(run).toMatch(/npm prune --omit=dev\b/);
  });

  it('runs as the unprivileged node user, with no entrypoint and no secrets', () => {
    const runtime = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM')));
    expect(runtime).toContain('USER node');
    expect(instructions.some((l) => l.startsWith('ENTRYPOINT'))).toBe(false);
    for (const line of instructions.filter((l) => /^(ARG|ENV)\b/.test(l))) {
      expect(line).not.toMatch(/SECRET|TOKEN|PASSWORD|ACCESS_KEY|_KEY=/i);
    }
  });

  it('puts the project files the code reads at run time (config/) into the runtime image', () => {
    const runtime = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM')));
    const copied = runtime
      .filter((l) => l.startsWith('COPY') && !l.includes('--from='))
      .map((l) => l.split(/\s+/)[1]);
    if (existsSync(join(ROOT, 'config'))) expect(copied).toContain('config');
  });

  it("declares the scratch volume the task definitions mount, as the jobs' TMPDIR", () => {
    const volume = /^VOLUME \["([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(volume).toBeDefined();
    expect(dockerfile).toMatch(new RegExp(`^ENV TMPDIR=${volume}$`, 'm'));
    expect(dockerfile).toMatch(new RegExp(`chown node:node ${volume}\\b`));
    const containers = String(
      resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions,
    );
    expect(containers).toContain(`containerPath = "${volume}"`);
    expect(containers).toContain('readonlyRootFilesystem = true');
  });

  it('runs the jobs with the V8 flags and environment the local runtime and the benchmark use', () => {
    const runtime = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM')));
    for (const [name, value] of Object.entries(JOB_PROCESS_ENV))
      expect(runtime).toContain(`ENV ${name}=${value}`);
    // The flags go on the command line (V8 refuses --heap-growing-percent in NODE_OPTIONS).
    expect(runtime.some((l) => l.includes('NODE_OPTIONS'))).toBe(false);
    expect(localValue(tf, 'job_node_flags')).toEqual(
      Object.fromEntries(STAGES.map((stage) => [stage, jobNodeFlags(stage)])),
    );
    const containers = String(
      resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions,
    );
    expect(containers).not.toContain('NODE_OPTIONS');
  });

  it('defaults to a stage command of the same form the task definitions override it with', () => {
    const cmd = instructions.find((l) => l.startsWith('CMD'))!;
    const command = JSON.parse(cmd.slice(3).trim()) as string[];
    expect(command[0]).toBe('node');
    const stage = STAGES.find((s) => command.at(-1) === `dist/jobs/${s}.js`);
    expect(stage).toBeDefined();
    expect(command.slice(1, -1)).toEqual(jobNodeFlags(stage!));
    const containers = String(
      resource(tf, 'aws_ecs_task_definition', 'stage').container_definitions,
    );
    expect(containers).toContain(
      'command                = concat(["node"], local.job_node_flags[each.key], ["dist/jobs/${each.key}.js"])',
    );
  });

  it('copies only sources the build context (.dockerignore) keeps, and never .env or state', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const must of ['.git', '.env', 'node_modules', 'dist', 'terraform', '.cartpipe']) {
      expect(ignored).toContain(must);
    }
    const copied = instructions
      .filter((l) => l.startsWith('COPY') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const source of copied) {
      expect(ignored).not.toContain(source);
      expect(existsSync(join(ROOT, source))).toBe(true);
    }
  });
});
