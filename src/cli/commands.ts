/**
 * The `cartpipe` commands. Each parses its flags, does its work through the local session or
 * an S3 bucket, prints for a person, and returns the process exit code.
 */
import { parseArgs } from 'node:util';
import { readNotifications } from '../adapters/local/file-notifier.js';
import {
  startLocalOrchestration,
  type LocalOrchestration,
} from '../adapters/local/local-orchestration.js';
import { silentLogger } from '../log.js';
import { getProfile, profileNames } from '../profiles/registry.js';
import { gatherFacts } from '../orchestrator/run-report.js';
import { summaryLines } from '../orchestrator/run-summary.js';
import { csv, table } from './format.js';
import { kpisToPrint } from './profile-commands.js';
import { openLocalSession } from './local-session.js';
import {
  CommandLineError as UsageError,
  displayPath,
  runsFor,
  submitForRun,
  watchRun,
} from './orchestration-commands.js';
import { defaultBatchName, expandPaths } from './submit.js';

export { UsageError };
export type Print = (text: string) => void;

/**
 * `cartpipe run`: loads files as one batch through the event path and waits for the run: the
 * files and the manifest go into the local bucket over the S3 API, the manifest's event starts
 * the run, and this follows it to its end. Uses the runtime of a running `cartpipe up`, or
 * starts one (with its orchestrator) for the duration of the command.
 * @returns 0 when the run SUCCEEDED, 1 when it FAILED
 */
export async function runCommand(argv: string[], print: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dataset: { type: 'string', short: 'd' },
      batch: { type: 'string', short: 'b' },
      quiet: { type: 'boolean', short: 'q' },
      replace: { type: 'boolean' },
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
  const session = await openLocalSession();
  let orchestration: LocalOrchestration | undefined;
  try {
    // With no `cartpipe up` serving the data folder, this process handles the events itself.
    if (session.runtime)
      orchestration = startLocalOrchestration(session.runtime, { log: silentLogger });
    const submitted = await submitForRun(
      session.store,
      { dataset: values.dataset, batch, files, replace: values.replace ?? false },
      print,
    );
    const { runs } = runsFor(session.env);
    const run = await watchRun(runs, submitted.runId, {
      ...(values.quiet ? {} : { print }),
    });
    await orchestration?.idle();
    print(['', ...summaryLines(await gatherFacts(session.store, run))].join('\n'));
    const dir = `${session.config.CARTPIPE_DATA_DIR}/notifications`;
    const notified = readNotifications(dir, run.runId).at(-1);
    if (notified) print(`\nnotification: ${displayPath(notified.file)}`);
    return run.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    await orchestration?.stop();
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
  const session = await openLocalSession();
  try {
    const out: Record<string, unknown[]> = {};
    const kpis = await kpisToPrint(profile, values.kpi, (k) => session.kpis.list(profile.name, k));
    for (const { kpi, rows } of kpis) {
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
