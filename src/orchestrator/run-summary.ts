/**
 * The human summary of a run, from its stage reports: what the CLI prints and what the
 * notification says. Counts per stage and entity, rejects by reason, KPI dates, where outputs are.
 */
import { layout, STAGES, type Stage } from '../contracts/layout.js';
import type { StageReport } from '../contracts/report.js';

export interface RunFacts {
  runId: string;
  dataset: string;
  batch: string;
  status: 'SUCCEEDED' | 'FAILED';
  bucket: string;
  durationMs: number;
  /** Absent for a failed run: it failed before any stage (the manifest check). */
  failedStage?: Stage;
  /** "<code>: <message>" of the failure. */
  reason?: string;
  /** Task launches per stage, when the orchestrator knows them. */
  attempts?: Partial<Record<Stage, number>>;
  manifestKey?: string;
  reports: Partial<Record<Stage, StageReport>>;
}

const n = (x: number) => x.toLocaleString('en-US');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Dates as people read them: all of them when few, else the span and the count. */
export function describeDates(dates: readonly string[]): string {
  if (dates.length === 0) return 'no dates';
  if (dates.length <= 7) return dates.join(', ');
  return `${dates[0]} .. ${dates[dates.length - 1]}`;
}

function attemptsNote(facts: RunFacts, stage: Stage): string {
  const count = facts.attempts?.[stage];
  return count && count > 1 ? `, ${count} launch attempts` : '';
}

/**
 * The summary, one line per entry; the same text goes to the terminal and the notification.
 * @example print(summaryLines(facts).join('\n'));
 */
export function summaryLines(facts: RunFacts): string[] {
  const lines: string[] = [];
  lines.push(
    `Run ${facts.runId} ${facts.status}: dataset ${facts.dataset}, batch ${facts.batch}, ${secs(facts.durationMs)}`,
  );
  if (facts.status === 'FAILED') {
    lines.push(
      facts.failedStage
        ? `Failed in ${facts.failedStage}: ${facts.reason ?? 'unknown reason'}`
        : `Failed before upload (manifest check): ${facts.reason ?? 'unknown reason'}. Nothing was loaded.`,
    );
  }
  const upload = facts.reports.upload;
  if (upload?.files) {
    const rows = upload.files.reduce((a, f) => a + f.rows, 0);
    lines.push(
      '',
      `upload: ${upload.files.length} file(s), ${n(rows)} rows read (${secs(upload.durationMs)}${attemptsNote(facts, 'upload')})`,
    );
    for (const [entity, c] of Object.entries(upload.entities ?? {}))
      lines.push(`  ${entity}: ${n(c.rowsIn)} rows`);
  }
  const validate = facts.reports.validate;
  if (validate?.entities) {
    lines.push('', `validate: (${secs(validate.durationMs)}${attemptsNote(facts, 'validate')})`);
    for (const [entity, c] of Object.entries(validate.entities)) {
      lines.push(
        `  ${entity}: ${n(c.rowsIn)} in = ${n(c.valid)} valid + ${n(c.rejected)} rejected + ${n(c.held)} held + ${n(c.duplicatesDropped)} duplicates dropped` +
          (c.released ? `; ${n(c.released)} held earlier released` : ''),
      );
      const reasons = Object.entries(c.rejectsByReason).sort((a, b) => b[1] - a[1]);
      for (const [reason, count] of reasons) lines.push(`    rejected ${reason}: ${n(count)}`);
    }
  }
  const kpi = facts.reports['compute-kpi'];
  if (kpi) {
    const dates = kpi.datesTouched ?? [];
    lines.push(
      '',
      `compute-kpi: ${dates.length} date(s) recomputed (${describeDates(dates)}) (${secs(kpi.durationMs)}${attemptsNote(facts, 'compute-kpi')})`,
    );
    for (const [name, rows] of Object.entries(kpi.kpiRows ?? {}))
      lines.push(`  ${name}: ${n(rows)} rows`);
  }
  const s3 = (key: string) => `s3://${facts.bucket}/${key}`;
  lines.push('', 'Where to look:');
  if (facts.manifestKey) lines.push(`  ${'manifest'.padEnd(12)} ${s3(facts.manifestKey)}`);
  lines.push(`  ${'report'.padEnd(12)} ${s3(layout.runReport(facts.runId))}`);
  for (const stage of STAGES)
    if (facts.reports[stage])
      lines.push(`  ${stage.padEnd(12)} ${s3(layout.stageReport(facts.runId, stage))}`);
  if (upload?.status === 'SUCCEEDED')
    lines.push(`  ${'raw'.padEnd(12)} ${s3(`raw/${facts.dataset}/`)}`);
  if (validate) {
    lines.push(`  ${'validated'.padEnd(12)} ${s3(`validated/${facts.dataset}/`)}`);
    const entities = Object.values(validate.entities ?? {});
    if (entities.some((c) => c.rejected > 0))
      lines.push(
        `  ${'rejected'.padEnd(12)} ${s3(`rejected/${facts.dataset}/`)}  (run=${facts.runId})`,
      );
    if (entities.some((c) => c.held > 0))
      lines.push(`  ${'held'.padEnd(12)} ${s3(`held/${facts.dataset}/`)}  (run=${facts.runId})`);
  }
  if (kpi) lines.push(`  ${'kpis'.padEnd(12)} ${s3(`kpis/${facts.dataset}/`)}`);
  return lines;
}

/** Loads whichever stage reports exist for a run. */
export async function loadReports(
  read: (key: string) => Promise<StageReport | undefined>,
  runId: string,
): Promise<Partial<Record<Stage, StageReport>>> {
  const out: Partial<Record<Stage, StageReport>> = {};
  for (const stage of STAGES) {
    const report = await read(layout.stageReport(runId, stage));
    if (report) out[stage] = report;
  }
  return out;
}
