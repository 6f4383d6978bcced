/**
 * The whole pipeline on the embedded local runtime, as `cartpipe run` does it: s3rver and
 * dynalite in this process, the batch submitted to incoming/ + metadata/, and each stage run
 * as a child process from dist/jobs (src/adapters/local/job-process.ts). A preload (rss-hook)
 * records each job's peak RSS without touching the job code.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { LOCAL_ENV, readConfig } from '../../src/config.js';
import { layout, STAGES, type Stage } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import { runJobProcess } from '../../src/adapters/local/job-process.js';
import { startLocalRuntime } from '../../src/adapters/local/local-runtime.js';
import { storesFor } from '../../src/cli/local-session.js';
import { submitBatch } from '../../src/cli/submit.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import type { KpiRow } from '../../src/ports/kpi-store.js';
import { getJson, putJson } from '../../src/ports/object-store.js';
import type { GeneratedData } from './generate.js';

export interface PipelineStage {
  stage: Stage;
  exitCode: number | null;
  /** Wall time of the job process (start, SDK load and S3/DynamoDB traffic included). */
  wallMs: number;
  /** The stage's own duration from its report. */
  reportMs?: number;
  maxRssKb?: number;
  userCpuMs?: number;
  outputs?: number;
  error?: string;
  /** The job's last log lines when it failed (its structured error log). */
  logTail?: string[];
}

export interface PipelineResult {
  submitMs: number;
  totalMs: number;
  stages: PipelineStage[];
  reports: Partial<Record<Stage, StageReport>>;
  kpiRows: Record<string, KpiRow[]>;
}

/** Job settings passed on to the jobs, as `cartpipe run` does. */
const PASSTHROUGH = /^CARTPIPE_(?!DATA_DIR|LOCAL_|BUCKET|RUNS_TABLE|KPI_TABLE|HISTORY_TABLE)/;

export async function runPipeline(
  data: GeneratedData,
  workDir: string,
  kpiNames: readonly string[],
): Promise<PipelineResult> {
  const dataDir = join(workDir, 'pipeline');
  rmSync(dataDir, { recursive: true, force: true });
  const config = readConfig(LOCAL_ENV, { CARTPIPE_DATA_DIR: dataDir });
  const runtime = await startLocalRuntime(config);
  try {
    const { store, kpis } = storesFor(runtime.env);
    const started = performance.now();
    const submitted = await submitBatch(store, {
      dataset: 'thelook',
      batch: 'bench',
      files: data.files.map((f) => ({ path: f.path, name: f.name })),
    });
    const run = await resolveRunManifest(
      store,
      { key: submitted.manifestKey, etag: submitted.manifestEtag },
      new Date(),
    );
    await putJson(store, layout.runManifest(run.runId), run);
    const submitMs = performance.now() - started;
    const hook = pathToFileURL(join(import.meta.dirname, 'rss-hook.js')).href;
    const stages: PipelineStage[] = [];
    const reports: PipelineResult['reports'] = {};
    for (const stage of STAGES) {
      const rssFile = join(dataDir, `${stage}-rss.json`);
      const env: Record<string, string> = { ...runtime.env, RUN_ID: run.runId };
      for (const [name, value] of Object.entries(process.env))
        if (PASSTHROUGH.test(name) && value) env[name] = value;
      env.CARTPIPE_LOG_LEVEL ??= 'warn';
      env.NODE_OPTIONS = `--import=${hook}`;
      env.BENCH_RSS_FILE = rssFile;
      const t = performance.now();
      const exit = await runJobProcess(stage, { env });
      const wallMs = performance.now() - t;
      const usage = existsSync(rssFile)
        ? (JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRssKb: number; userCpuMs: number })
        : undefined;
      const report = await getJson<StageReport>(store, layout.stageReport(run.runId, stage)).catch(
        () => undefined,
      );
      if (report) reports[stage] = report;
      stages.push({
        stage,
        exitCode: exit.exitCode,
        wallMs,
        reportMs: report?.durationMs,
        maxRssKb: usage?.maxRssKb,
        userCpuMs: usage?.userCpuMs,
        outputs: report?.outputs.length,
        ...(exit.exitCode !== 0
          ? {
              error: report?.error?.message ?? 'the job exited without a report',
              logTail: exit.stderrTail.slice(-3).map((line) => line.slice(0, 2000)),
            }
          : {}),
      });
      if (exit.exitCode !== 0) break;
    }
    const kpiRows: Record<string, KpiRow[]> = {};
    for (const name of kpiNames) kpiRows[name] = await kpis.list('thelook', name);
    return { submitMs, totalMs: performance.now() - started, stages, reports, kpiRows };
  } finally {
    await runtime.stop();
  }
}
