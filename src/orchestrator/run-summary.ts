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
  failedStage?: Stage;
  reason?: string;
  reports: Partial<Record<Stage, StageReport>>;
}

const n = (x: number) => x.toLocaleString('en-US');

export function summaryLines(facts: RunFacts): string[] {
  const lines: string[] = [];
  lines.push(
    `Run ${facts.runId} ${facts.status}: dataset ${facts.dataset}, batch ${facts.batch}, ${(facts.durationMs / 1000).toFixed(1)}s`,
  );
  if (facts.status === 'FAILED') {
    lines.push(`Failed in ${facts.failedStage ?? 'setup'}: ${facts.reason ?? 'unknown reason'}`);
  }
  const upload = facts.reports.upload;
  if (upload?.files) {
    const rows = upload.files.reduce((a, f) => a + f.rows, 0);
    lines.push(
      '',
      `upload: ${upload.files.length} file(s), ${n(rows)} rows read (${(upload.durationMs / 1000).toFixed(1)}s)`,
    );
    for (const [entity, c] of Object.entries(upload.entities ?? {}))
      lines.push(`  ${entity}: ${n(c.rowsIn)} rows`);
  }
  const validate = facts.reports.validate;
  if (validate?.entities) {
    lines.push('', `validate: (${(validate.durationMs / 1000).toFixed(1)}s)`);
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
    const span =
      dates.length === 0
        ? 'no dates'
        : dates.length === 1
          ? dates[0]
          : `${dates[0]} .. ${dates[dates.length - 1]}`;
    lines.push(
      '',
      `compute-kpi: ${dates.length} date(s) recomputed (${span}) (${(kpi.durationMs / 1000).toFixed(1)}s)`,
    );
    for (const [name, rows] of Object.entries(kpi.kpiRows ?? {}))
      lines.push(`  ${name}: ${n(rows)} rows`);
  }
  const s3 = (key: string) => `s3://${facts.bucket}/${key}`;
  lines.push('', 'Where to look:');
  lines.push(`  report:    ${s3(layout.runReport(facts.runId))}`);
  for (const stage of STAGES)
    if (facts.reports[stage])
      lines.push(`  ${stage.padEnd(10)} ${s3(layout.stageReport(facts.runId, stage))}`);
  if (validate) {
    lines.push(`  validated: ${s3(`validated/${facts.dataset}/`)}`);
    const rejected = Object.values(validate.entities ?? {}).some((c) => c.rejected > 0);
    if (rejected)
      lines.push(`  rejected:  ${s3(`rejected/${facts.dataset}/`)}  (run=${facts.runId})`);
  }
  if (kpi) lines.push(`  kpis:      ${s3(`kpis/${facts.dataset}/`)}`);
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
