/**
 * The commands around the event-driven pipeline: `up` serves the local runtime with its
 * orchestrator in the foreground, `submit` puts a batch into a bucket (local or AWS) the way a
 * user would, `status` shows runs from the runs table. Also the pieces `run` shares with them:
 * submitting with a run id in hand, and following a run to its end.
 */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOCAL_ENV, readConfig } from '../config.js';
import { layout, STAGES } from '../contracts/layout.js';
import { dynamoDocumentClient, s3Client } from '../adapters/aws/clients.js';
import { DynamoDbRunsLister } from '../adapters/aws/dynamodb-runs-list.js';
import { DynamoDbRunsStore } from '../adapters/aws/dynamodb-runs-store.js';
import { S3ObjectStore } from '../adapters/aws/s3-object-store.js';
import { readNotifications } from '../adapters/local/file-notifier.js';
import { startLocalOrchestration } from '../adapters/local/local-orchestration.js';
import { LOCAL_CREDENTIALS, startLocalRuntime } from '../adapters/local/local-runtime.js';
import { createLogger } from '../log.js';
import { runIdOf } from '../orchestrator/run-manifest.js';
import type { ObjectStore } from '../ports/object-store.js';
import { isTerminal, type RunRecord, type RunsStore } from '../ports/runs-store.js';
import { getProfile, profileNames } from '../profiles/registry.js';
import { seconds, table } from './format.js';
import { openLocalSession, publishRuntime, runningRuntime } from './local-session.js';
import { defaultBatchName, expandPaths, submitBatch, type LocalFile } from './submit.js';

type Print = (text: string) => void;

/** A path as a person would type it from here: relative inside the working folder. */
export function displayPath(path: string): string {
  const inside = relative(process.cwd(), resolve(path));
  return inside && !inside.startsWith('..') ? inside : resolve(path);
}

/** Thrown for a command line that cannot work; main() maps it to exit code 2. */
export class CommandLineError extends Error {}

// ---- shared pieces ---------------------------------------------------------------------------

/** The runs table of a local runtime, from its published environment. */
export function runsFor(env: Record<string, string>) {
  const documents = dynamoDocumentClient(
    {
      AWS_REGION: env.AWS_REGION!,
      AWS_ENDPOINT_URL_S3: env.AWS_ENDPOINT_URL_S3,
      AWS_ENDPOINT_URL_DYNAMODB: env.AWS_ENDPOINT_URL_DYNAMODB,
    },
    { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  );
  const table = env.CARTPIPE_RUNS_TABLE!;
  return {
    runs: new DynamoDbRunsStore(documents, table),
    lister: new DynamoDbRunsLister(documents, table),
  };
}

export interface SubmittedRun {
  batch: string;
  manifestKey: string;
  runId: string;
  files: string[];
}

/**
 * Puts the files, then the manifest, and says which run that starts. A batch name is used
 * once: its manifest already in the bucket means the batch ran (or runs) already, and putting
 * the same manifest again would only be a duplicate event, so this refuses unless `replace`.
 */
export async function submitForRun(
  store: ObjectStore,
  options: { dataset: string; batch: string; files: readonly LocalFile[]; replace?: boolean },
  print: Print,
): Promise<SubmittedRun> {
  const manifestKey = layout.manifestKey(options.batch);
  const previous = await store.head(manifestKey);
  if (previous && !options.replace) {
    const runId = runIdOf({ key: manifestKey, etag: previous.etag });
    throw new CommandLineError(
      `batch ${options.batch} was submitted before (s3://${store.bucket}/${manifestKey}, run ${runId}); ` +
        'give a new --batch name, or --replace to overwrite its files and manifest',
    );
  }
  const submitted = await submitBatch(store, options);
  const runId = runIdOf({ key: submitted.manifestKey, etag: submitted.manifestEtag });
  print(
    `submitted ${submitted.files.length} file(s) as batch ${options.batch}: s3://${store.bucket}/${submitted.manifestKey}`,
  );
  if (previous?.etag === submitted.manifestEtag)
    print(
      `note: the manifest is byte-identical to the one already there, so no new run starts (run ${runId} is the same object's run)`,
    );
  return {
    batch: options.batch,
    manifestKey: submitted.manifestKey,
    runId,
    files: submitted.files,
  };
}

const clock = (iso: string | undefined) => (iso ? iso.slice(11, 19) : '--:--:--');
const durationOf = (from: string | undefined, to: string | undefined) =>
  from && to ? seconds(Date.parse(to) - Date.parse(from)) : '';

/** What changed between two states of a run, as lines for a person. */
export function progressLines(previous: RunRecord | undefined, next: RunRecord): string[] {
  const lines: string[] = [];
  if (!previous) lines.push(`run ${next.runId} created from ${next.manifestKey}`);
  for (const stage of STAGES) {
    const before = previous?.stages[stage];
    const after = next.stages[stage];
    if (!after) continue;
    for (const attempt of after.attempts.slice(before?.attempts.length ?? 0)) {
      const prior = after.attempts.find((a) => a.attempt === attempt.attempt - 1);
      if (prior)
        lines.push(
          `${stage}: attempt ${prior.attempt} did not start (${prior.stoppedReason ?? 'no reason given'}); launching attempt ${attempt.attempt}`,
        );
      else lines.push(`${stage}: launched`);
    }
    if (after.status !== 'RUNNING' && before?.status !== after.status)
      lines.push(
        `${stage}: ${after.status.toLowerCase()} after ${durationOf(after.startedAt, after.finishedAt)}`,
      );
  }
  if (isTerminal(next.status) && previous?.status !== next.status) {
    const took = durationOf(next.createdAt, next.finishedAt);
    lines.push(
      next.status === 'SUCCEEDED'
        ? `run SUCCEEDED in ${took}`
        : `run FAILED${next.failure?.stage ? ` in ${next.failure.stage}` : ''}: ${next.failure?.code}: ${next.failure?.reason}`,
    );
  }
  if (next.notification?.sentAt && !previous?.notification?.sentAt)
    lines.push(`notification published: ${next.notification.subject ?? ''}`);
  return lines;
}

/**
 * Polls a run until it is terminal and notified (the notification is bounded by a short wait,
 * so a broken notifier does not hang the caller). Prints progress when `print` is given.
 * @throws Error when no run appears within `appearWithinMs` (nobody is handling the events)
 */
export async function watchRun(
  runs: RunsStore,
  runId: string,
  options: {
    print?: Print;
    pollMs?: number;
    appearWithinMs?: number;
    notifyWithinMs?: number;
  } = {},
): Promise<RunRecord> {
  const pollMs = options.pollMs ?? 250;
  const started = Date.now();
  let previous: RunRecord | undefined;
  let terminalSince: number | undefined;
  for (;;) {
    const run = await runs.get(runId);
    if (!run && Date.now() - started > (options.appearWithinMs ?? 30_000))
      throw new Error(
        `no run ${runId} appeared within ${(options.appearWithinMs ?? 30_000) / 1000}s: is the local runtime handling events? (see the \`cartpipe up\` output)`,
      );
    if (run && run.version !== previous?.version) {
      // A run found already finished (an identical manifest put again) is not replayed.
      const lines =
        !previous && isTerminal(run.status)
          ? [`run ${run.runId} had already ${run.status === 'SUCCEEDED' ? 'succeeded' : 'failed'}`]
          : progressLines(previous, run);
      for (const line of lines) options.print?.(`  ${clock(run.updatedAt)}  ${line}`);
      previous = run;
    }
    if (run && isTerminal(run.status)) {
      terminalSince ??= Date.now();
      if (
        run.notification?.sentAt ||
        Date.now() - terminalSince > (options.notifyWithinMs ?? 10_000)
      )
        return run;
    }
    await new Promise((next) => setTimeout(next, pollMs));
  }
}

// ---- cartpipe up -------------------------------------------------------------------------------

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
}

/**
 * `cartpipe up`: the local runtime and its orchestrator in the foreground, until Ctrl-C.
 * @param until resolves when to stop (default: SIGINT or SIGTERM)
 */
export async function upCommand(
  argv: string[],
  print: Print,
  until: Promise<unknown> = untilSignal(),
): Promise<number> {
  parseArgs({ args: argv, options: {} });
  const config = readConfig(LOCAL_ENV);
  const running = runningRuntime(config);
  if (running)
    throw new CommandLineError(
      `the local runtime is already running (pid ${running.pid}) for ${resolve(config.CARTPIPE_DATA_DIR)}`,
    );
  const runtime = await startLocalRuntime(config);
  const seen = new Map<string, RunRecord>();
  const orchestration = startLocalOrchestration(runtime, {
    print: (text) => print(`\n${text}\n`),
    // As the deployed stack's schedule does: finishes runs whose events were lost.
    sweepEveryMs: 60_000,
    log: createLogger(process.env.CARTPIPE_LOG_LEVEL === 'debug' ? 'debug' : 'warn', {
      component: 'orchestrator',
    }),
    onChange: (run) => {
      for (const line of progressLines(seen.get(run.runId), run))
        print(`${clock(run.updatedAt)}  ${run.runId}  ${line}`);
      seen.set(run.runId, run);
    },
  });
  const unpublish = publishRuntime(runtime, config);
  try {
    const s3 = runtime.s3Endpoint;
    const dataDir = displayPath(runtime.dataDir);
    print(
      [
        'cartpipe local runtime is up (Ctrl-C stops it)',
        `  S3 endpoint   ${s3}   bucket ${runtime.bucket}`,
        `  DynamoDB      ${runtime.dynamoDbEndpoint}   runs table ${config.CARTPIPE_RUNS_TABLE}`,
        `  credentials   ${LOCAL_CREDENTIALS.accessKeyId} / ${LOCAL_CREDENTIALS.secretAccessKey}   region ${config.AWS_REGION}`,
        `  data folder   ${dataDir}/  (s3/, dynamodb/, notifications/, logs/)`,
        '',
        'A manifest put under metadata/ with any S3 client starts a run. With the AWS CLI:',
        `  export AWS_ACCESS_KEY_ID=${LOCAL_CREDENTIALS.accessKeyId} AWS_SECRET_ACCESS_KEY=${LOCAL_CREDENTIALS.secretAccessKey} AWS_DEFAULT_REGION=${config.AWS_REGION} AWS_REQUEST_CHECKSUM_CALCULATION=when_required`,
        `  aws --endpoint-url ${s3} s3 cp --recursive DATA_FOLDER s3://${runtime.bucket}/incoming/my-batch/`,
        `  echo '{"dataset":"thelook"}' | aws --endpoint-url ${s3} s3 cp - s3://${runtime.bucket}/metadata/my-batch.json`,
        'or, from another terminal:',
        '  cartpipe submit --dataset thelook --batch my-batch DATA_FOLDER',
        '  cartpipe status [RUN_ID]',
        '',
      ].join('\n'),
    );
    // Runs this process did not see start: their progress is reported from where they are.
    for (const run of await orchestration.lister.list(Number.MAX_SAFE_INTEGER))
      if (!isTerminal(run.status)) seen.set(run.runId, run);
    const resumed = await orchestration.resume();
    for (const run of resumed)
      print(
        `resuming ${run.runId} (${run.status}${run.stage ? ` ${run.stage}` : ''}), left unfinished by an earlier process`,
      );
    await until;
    print('stopping: jobs still running are stopped and resume at the next `cartpipe up`');
    await orchestration.stop();
    return 0;
  } finally {
    unpublish();
    await runtime.stop();
    print('stopped');
  }
}

// ---- cartpipe submit ---------------------------------------------------------------------------

/** `cartpipe submit`: files then manifest into the local runtime's bucket or an AWS bucket. */
export async function submitCommand(argv: string[], print: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dataset: { type: 'string', short: 'd' },
      batch: { type: 'string', short: 'b' },
      bucket: { type: 'string' },
      region: { type: 'string' },
      replace: { type: 'boolean' },
    },
  });
  if (!values.dataset)
    throw new CommandLineError(`--dataset is required (one of ${profileNames().join(', ')})`);
  if (positionals.length === 0) throw new CommandLineError('give at least one file or folder');
  if (values.region && !values.bucket) throw new CommandLineError('--region goes with --bucket');
  getProfile(values.dataset);
  const skipped: string[] = [];
  const files = expandPaths(positionals, skipped);
  if (skipped.length > 0)
    print(`skipping ${skipped.length} file(s) that are not data: ${skipped.join(', ')}`);
  const batch = values.batch ?? defaultBatchName(values.dataset);
  const request = { dataset: values.dataset, batch, files, replace: values.replace ?? false };

  if (values.bucket) {
    const region = values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) throw new CommandLineError('--region (or AWS_REGION) is needed with --bucket');
    // The SDK's default credential chain (profile, SSO, environment) applies.
    const client = s3Client({
      AWS_REGION: region,
      AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3,
      AWS_ENDPOINT_URL_DYNAMODB: undefined,
    });
    try {
      const submitted = await submitForRun(
        new S3ObjectStore(client, values.bucket),
        request,
        print,
      );
      print(
        `run ${submitted.runId} starts when the orchestrator Lambda receives the manifest event; its notification goes to the SNS topic`,
      );
      return 0;
    } finally {
      client.destroy();
    }
  }

  const config = readConfig(LOCAL_ENV);
  if (!runningRuntime(config))
    throw new CommandLineError(
      'the local runtime is not running: start it with `cartpipe up` in another terminal (or use `cartpipe run` to load and wait)',
    );
  const session = await openLocalSession();
  try {
    const submitted = await submitForRun(session.store, request, print);
    print(`run ${submitted.runId} started; follow it with: cartpipe status ${submitted.runId}`);
    return 0;
  } finally {
    await session.close();
  }
}

// ---- cartpipe status ---------------------------------------------------------------------------

function describeRun(run: RunRecord, bucket: string, notificationFiles: string[]): string {
  const lines = [
    `run       ${run.runId}`,
    `status    ${run.status}${run.stage && !isTerminal(run.status) ? ` (${run.stage}, attempt ${run.attempt})` : ''}`,
    `dataset   ${run.dataset ?? '-'}   batch ${run.batch ?? '-'}`,
    `manifest  s3://${bucket}/${run.manifestKey}  (ETag ${run.manifestEtag})`,
    `created   ${run.createdAt}${run.finishedAt ? `   finished ${run.finishedAt} (${durationOf(run.createdAt, run.finishedAt)})` : ''}`,
  ];
  if (run.failure)
    lines.push(
      `failure   ${run.failure.stage ?? 'manifest'}: ${run.failure.code}: ${run.failure.reason}`,
    );
  const rows = STAGES.flatMap((stage) => {
    const state = run.stages[stage];
    if (!state) return [];
    const last = state.attempts[state.attempts.length - 1];
    return [
      {
        stage,
        status: state.status,
        attempts: state.attempts.length,
        started: clock(state.startedAt),
        took: durationOf(state.startedAt, state.finishedAt),
        exit: last?.exitCode ?? (last?.stoppedAt ? 'none' : ''),
        task: last?.taskArn?.replace(/^.*\//, '') ?? '',
        // Only worth a column when the task did not simply exit 0.
        'stop reason': last?.exitCode === 0 ? '' : (last?.stoppedReason ?? ''),
      },
    ];
  });
  if (rows.length > 0) lines.push('', table(Object.keys(rows[0]!), rows));
  lines.push('', 'reports:');
  for (const stage of STAGES)
    if (run.stages[stage]?.reportKey)
      lines.push(`  ${stage.padEnd(12)} s3://${bucket}/${run.stages[stage]!.reportKey}`);
  if (run.reportKey) lines.push(`  ${'run'.padEnd(12)} s3://${bucket}/${run.reportKey}`);
  const n = run.notification;
  lines.push(
    '',
    n?.sentAt
      ? `notified  ${n.sentAt}: ${n.subject ?? ''}`
      : isTerminal(run.status)
        ? 'notified  not yet'
        : 'notified  (when the run ends)',
  );
  for (const file of notificationFiles) lines.push(`          ${file}`);
  return lines.join('\n');
}

/** `cartpipe status [RUN_ID]`: recent runs, or one run's stages, attempts and reports. */
export async function statusCommand(argv: string[], print: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      batch: { type: 'string', short: 'b' },
      json: { type: 'boolean' },
      limit: { type: 'string', default: '20' },
    },
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new CommandLineError('--limit is a positive whole number');
  const session = await openLocalSession();
  try {
    const { runs, lister } = runsFor(session.env);
    const bucket = session.env.CARTPIPE_BUCKET!;
    const wanted = positionals[0];
    if (wanted) {
      let run = await runs.get(wanted);
      if (!run) {
        const matches = (await lister.list(Number.MAX_SAFE_INTEGER)).filter((r) =>
          r.runId.startsWith(wanted),
        );
        if (matches.length > 1)
          throw new CommandLineError(
            `${wanted} matches ${matches.length} runs: ${matches.map((r) => r.runId).join(', ')}`,
          );
        run = matches[0];
      }
      if (!run) {
        print(`no run ${wanted} (cartpipe status lists the recent ones)`);
        return 1;
      }
      if (values.json) print(JSON.stringify(run, null, 2));
      else {
        const dir = resolve(session.config.CARTPIPE_DATA_DIR, 'notifications');
        const files = readNotifications(dir, run.runId).map((n) => displayPath(n.file));
        print(describeRun(run, bucket, files));
      }
      return 0;
    }
    const all = await lister.list(values.batch ? Number.MAX_SAFE_INTEGER : limit);
    const listed = (values.batch ? all.filter((r) => r.batch === values.batch) : all).slice(
      0,
      limit,
    );
    if (values.json) {
      print(JSON.stringify(listed, null, 2));
      return 0;
    }
    if (listed.length === 0) {
      print(
        values.batch
          ? `no run for batch ${values.batch}`
          : 'no runs yet: `cartpipe run` or `cartpipe submit` starts one',
      );
      return 0;
    }
    const rows = listed.map((r) => ({
      run_id: r.runId,
      status: r.status,
      stage: isTerminal(r.status) ? (r.failure?.stage ?? '') : (r.stage ?? ''),
      dataset: r.dataset ?? '',
      batch: r.batch ?? '',
      created: r.createdAt.replace('T', ' ').slice(0, 19),
      took: durationOf(r.createdAt, r.finishedAt),
      notified: r.notification?.sentAt ? 'yes' : isTerminal(r.status) ? 'no' : '',
    }));
    print(table(Object.keys(rows[0]!), rows));
    return 0;
  } finally {
    await session.close();
  }
}
