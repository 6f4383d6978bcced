/**
 * What a finished run leaves behind for people: runs/<run_id>/report.json (the run report, one
 * JSON document over the stage reports and the run record) and the notification text.
 */
import { layout, STAGES, type Stage } from '../contracts/layout.js';
import { addCounts, emptyCounts, type StageReport } from '../contracts/report.js';
import { NotFoundError } from '../errors.js';
import type { RunNotification } from '../ports/notifier.js';
import { getJson, type ObjectStore } from '../ports/object-store.js';
import type { RunFailure, RunRecord, StageState } from '../ports/runs-store.js';
import { loadReports, summaryLines, type RunFacts } from './run-summary.js';

export interface RunReport {
  runId: string;
  dataset: string;
  batch: string;
  status: 'SUCCEEDED' | 'FAILED';
  manifest: { key: string; etag: string };
  createdAt: string;
  finishedAt: string;
  durationMs: number;
  failure?: RunFailure;
  stages: Partial<
    Record<
      Stage,
      {
        status: StageState['status'];
        attempts: number;
        startedAt: string;
        finishedAt?: string;
        durationMs?: number;
        reportKey?: string;
        taskArns: string[];
        exitCode?: number;
      }
    >
  >;
  totals: {
    rowsRead: number;
    valid: number;
    rejected: number;
    held: number;
    duplicatesDropped: number;
    rejectsByReason: Record<string, number>;
  };
  datesTouched: string[];
  kpiRows: Record<string, number>;
  /** s3:// locations of what the run wrote. */
  outputs: Record<string, string>;
}

/** A stage report if the stage wrote one; a missing or unreadable one is simply absent. */
export async function readStageReport(
  store: ObjectStore,
  key: string,
): Promise<StageReport | undefined> {
  try {
    return await getJson<StageReport>(store, key);
  } catch (error) {
    if (error instanceof NotFoundError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Everything the summary needs about a terminal run. */
export async function gatherFacts(
  store: ObjectStore,
  run: RunRecord,
  finishedAt = run.finishedAt ?? run.updatedAt,
): Promise<RunFacts> {
  const reports = await loadReports((key) => readStageReport(store, key), run.runId);
  const attempts: Partial<Record<Stage, number>> = {};
  for (const stage of STAGES) {
    const state = run.stages[stage];
    if (state) attempts[stage] = state.attempts.length;
  }
  const batch = run.batch ?? run.manifestKey.replace(/^.*\//, '').replace(/\.json$/, '');
  return {
    runId: run.runId,
    dataset: run.dataset ?? 'unknown',
    batch,
    status: run.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED',
    bucket: store.bucket,
    durationMs: Math.max(0, Date.parse(finishedAt) - Date.parse(run.createdAt)),
    ...(run.failure?.stage ? { failedStage: run.failure.stage } : {}),
    ...(run.failure ? { reason: `${run.failure.code}: ${run.failure.reason}` } : {}),
    attempts,
    manifestKey: run.manifestKey,
    reports,
  };
}

/** runs/<run_id>/report.json of a terminal run. */
export function buildRunReport(run: RunRecord, facts: RunFacts): RunReport {
  const stages: RunReport['stages'] = {};
  for (const stage of STAGES) {
    const state = run.stages[stage];
    if (!state) continue;
    const last = state.attempts[state.attempts.length - 1];
    stages[stage] = {
      status: state.status,
      attempts: state.attempts.length,
      startedAt: state.startedAt,
      ...(state.finishedAt
        ? {
            finishedAt: state.finishedAt,
            durationMs: Date.parse(state.finishedAt) - Date.parse(state.startedAt),
          }
        : {}),
      ...(state.reportKey ? { reportKey: state.reportKey } : {}),
      taskArns: state.attempts.flatMap((a) => (a.taskArn ? [a.taskArn] : [])),
      ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
    };
  }
  const validated = emptyCounts();
  for (const c of Object.values(facts.reports.validate?.entities ?? {})) addCounts(validated, c);
  const totals: RunReport['totals'] = {
    rowsRead: 0,
    valid: validated.valid,
    rejected: validated.rejected,
    held: validated.held,
    duplicatesDropped: validated.duplicatesDropped,
    rejectsByReason: validated.rejectsByReason,
  };
  for (const f of facts.reports.upload?.files ?? []) totals.rowsRead += f.rows;
  const s3 = (key: string) => `s3://${facts.bucket}/${key}`;
  const outputs: Record<string, string> = { report: s3(layout.runReport(run.runId)) };
  if (facts.reports.upload?.status === 'SUCCEEDED') outputs.raw = s3(`raw/${facts.dataset}/`);
  if (facts.reports.validate) {
    outputs.validated = s3(`validated/${facts.dataset}/`);
    if (totals.rejected > 0) outputs.rejected = s3(`rejected/${facts.dataset}/`);
    if (totals.held > 0) outputs.held = s3(`held/${facts.dataset}/`);
  }
  if (facts.reports['compute-kpi']) outputs.kpis = s3(`kpis/${facts.dataset}/`);
  return {
    runId: run.runId,
    dataset: facts.dataset,
    batch: facts.batch,
    status: facts.status,
    manifest: { key: run.manifestKey, etag: run.manifestEtag },
    createdAt: run.createdAt,
    finishedAt: run.finishedAt ?? run.updatedAt,
    durationMs: facts.durationMs,
    ...(run.failure ? { failure: run.failure } : {}),
    stages,
    totals,
    datesTouched: facts.reports['compute-kpi']?.datesTouched ?? [],
    kpiRows: facts.reports['compute-kpi']?.kpiRows ?? {},
    outputs,
  };
}

/** SNS subjects: printable ASCII, one line, under 100 characters. */
export function subjectLine(text: string): string {
  const ascii = text
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  return ascii.length <= 99 ? ascii : `${ascii.slice(0, 96)}...`;
}

function wrap(prefix: string, items: readonly string[], width = 96): string[] {
  const lines: string[] = [];
  let line = prefix;
  for (const [i, item] of items.entries()) {
    const piece = `${item}${i < items.length - 1 ? ',' : ''}`;
    if (line.length + piece.length + 1 > width && line.trim() !== prefix.trim()) {
      lines.push(line);
      line = ' '.repeat(prefix.length);
    }
    line += (line.endsWith(' ') ? '' : ' ') + piece;
  }
  lines.push(line);
  return lines;
}

/**
 * The notification of a terminal run: subject "[cartpipe] SUCCEEDED thelook batch 2025-04-01-a"
 * (FAILED ones add where), the summary as the body, status and dataset as attributes.
 */
export function composeNotification(run: RunRecord, facts: RunFacts): RunNotification {
  const where =
    facts.status === 'FAILED'
      ? facts.failedStage
        ? ` at ${facts.failedStage}`
        : ' (manifest rejected)'
      : '';
  const subject = subjectLine(
    `[cartpipe] ${facts.status} ${facts.dataset} batch ${facts.batch}${where}`,
  );
  const dates = facts.reports['compute-kpi']?.datesTouched ?? [];
  const lines = [
    ...summaryLines(facts),
    '',
    ...(dates.length > 0 ? [...wrap(`KPI dates touched (${dates.length}):`, dates), ''] : []),
    `Started ${run.createdAt}, finished ${run.finishedAt ?? run.updatedAt}.`,
    `Manifest s3://${facts.bucket}/${run.manifestKey} (ETag ${run.manifestEtag}).`,
  ];
  return {
    runId: run.runId,
    subject,
    text: `${lines.join('\n')}\n`,
    attributes: { status: facts.status, dataset: facts.dataset },
  };
}
