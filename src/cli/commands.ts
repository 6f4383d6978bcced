/**
 * The `cartpipe` commands. Each parses its flags, does its work through the local session or
 * an S3 bucket, prints for a person, and returns the process exit code.
 */
import { parseArgs } from 'node:util';
import { layout, STAGES } from '../contracts/layout.js';
import type { StageReport } from '../contracts/report.js';
import { NotFoundError } from '../errors.js';
import { runJobProcess } from '../adapters/local/job-process.js';
import { getJson, putJson } from '../ports/object-store.js';
import { getProfile, profileNames } from '../profiles/registry.js';
import { resolveRunManifest } from '../orchestrator/run-manifest.js';
import { loadReports, summaryLines, type RunFacts } from '../orchestrator/run-summary.js';
import { csv, table } from './format.js';
import { openLocalSession, type LocalSession } from './local-session.js';
import { defaultBatchName, expandPaths, submitBatch } from './submit.js';

export type Print = (text: string) => void;

async function readReport(session: LocalSession, key: string): Promise<StageReport | undefined> {
  try {
    return await getJson<StageReport>(session.store, key);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** Job settings a user may set for local runs; passed to the job processes like task env. */
const JOB_PASSTHROUGH = [
  'CARTPIPE_TIME_ZONE',
  'CARTPIPE_REJECT_THRESHOLD',
  'CARTPIPE_ROWS_PER_PART',
  'CARTPIPE_MAX_FILE_BYTES',
  'CARTPIPE_LOG_LEVEL',
];

export async function runCommand(argv: string[], print: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dataset: { type: 'string', short: 'd' },
      batch: { type: 'string', short: 'b' },
      quiet: { type: 'boolean', short: 'q' },
    },
  });
  if (!values.dataset)
    throw new UsageError(`--dataset is required (one of ${profileNames().join(', ')})`);
  if (positionals.length === 0) throw new UsageError('give at least one file or folder to load');
  getProfile(values.dataset);
  const skipped: string[] = [];
  const files = expandPaths(positionals, skipped);
  if (skipped.length > 0)
    print(`skipping ${skipped.length} file(s) that are not data: ${skipped.join(', ')}`);
  const batch = values.batch ?? defaultBatchName(values.dataset);
  const session = await openLocalSession({ own: true });
  try {
    const started = Date.now();
    const submitted = await submitBatch(session.store, { dataset: values.dataset, batch, files });
    print(
      `submitted ${files.length} file(s) as batch ${batch} -> s3://${session.config.CARTPIPE_BUCKET}/${submitted.manifestKey}`,
    );
    const run = await resolveRunManifest(
      session.store,
      { key: submitted.manifestKey, etag: submitted.manifestEtag },
      new Date(),
    );
    await putJson(session.store, layout.runManifest(run.runId), run);
    const env: Record<string, string> = { ...session.env, RUN_ID: run.runId };
    for (const name of JOB_PASSTHROUGH) if (process.env[name]) env[name] = process.env[name]!;
    let failedStage: (typeof STAGES)[number] | undefined;
    for (const stage of STAGES) {
      if (!values.quiet) print(`  ${stage} ...`);
      const exit = await runJobProcess(stage, { env });
      if (exit.exitCode !== 0) {
        failedStage = stage;
        break;
      }
    }
    const reports = await loadReports((key) => readReport(session, key), run.runId);
    const failure = failedStage ? reports[failedStage]?.error : undefined;
    const facts: RunFacts = {
      runId: run.runId,
      dataset: run.dataset,
      batch: run.batch,
      status: failedStage ? 'FAILED' : 'SUCCEEDED',
      bucket: session.config.CARTPIPE_BUCKET,
      durationMs: Date.now() - started,
      ...(failedStage
        ? {
            failedStage,
            reason: failure
              ? `${failure.code}: ${failure.message}`
              : 'the job exited without a report',
          }
        : {}),
      reports,
    };
    print(summaryLines(facts).join('\n'));
    return failedStage ? 1 : 0;
  } finally {
    await session.close();
  }
}

export async function kpisCommand(argv: string[], print: Print): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dataset: { type: 'string', short: 'd' },
      kpi: { type: 'string', short: 'k' },
      format: { type: 'string', short: 'f', default: 'table' },
    },
  });
  if (!values.dataset)
    throw new UsageError(`--dataset is required (one of ${profileNames().join(', ')})`);
  const profile = getProfile(values.dataset);
  const format = values.format!;
  if (!['table', 'csv', 'json'].includes(format))
    throw new UsageError('--format is one of table, csv, json');
  const kpis = values.kpi ? profile.kpis.filter((k) => k.name === values.kpi) : profile.kpis;
  if (kpis.length === 0)
    throw new UsageError(
      `unknown KPI ${values.kpi}; ${profile.name} has ${profile.kpis.map((k) => k.name).join(', ')}`,
    );
  const session = await openLocalSession();
  try {
    const out: Record<string, unknown[]> = {};
    for (const kpi of kpis) {
      const rows = await session.kpis.list(profile.name, kpi.name);
      const columns = kpi.columns.map((c) => c.name);
      const clean = rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] ?? null])));
      if (format === 'json') out[kpi.name] = clean;
      else if (format === 'csv')
        print(`${kpis.length > 1 ? `# ${kpi.name}\n` : ''}${csv(columns, clean)}`);
      else
        print(`${kpi.name}: ${kpi.description} (${rows.length} rows)\n${table(columns, clean)}\n`);
    }
    if (format === 'json') print(JSON.stringify(values.kpi ? out[values.kpi] : out, null, 2));
    return 0;
  } finally {
    await session.close();
  }
}

export class UsageError extends Error {}
