/**
 * Runs one stage for one run and writes its report (runs/<run_id>/<stage>.json), success or
 * failure. The report is the stage's answer: the exit code only says which of the two it was.
 */
import { layout, type Stage } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import type { StageReport } from '../contracts/report.js';
import { describeError, InputFileError, isCartpipeError } from '../errors.js';
import { getJson, putJson } from '../ports/object-store.js';
import { runComputeKpi } from './compute-kpi.js';
import { readRunManifest, type StageContext } from './context.js';
import { runUpload } from './upload.js';
import { runValidate } from './validate.js';

type Outcome = Omit<
  StageReport,
  'stage' | 'runId' | 'dataset' | 'batch' | 'status' | 'startedAt' | 'finishedAt' | 'durationMs'
> & {
  failed?: unknown;
};

async function runCore(stage: Stage, ctx: StageContext, run: RunManifest): Promise<Outcome> {
  switch (stage) {
    case 'upload': {
      const r = await runUpload(ctx, run);
      return { files: r.files, entities: r.entities, outputs: r.outputs };
    }
    case 'validate': {
      const r = await runValidate(ctx, run);
      return {
        entities: r.entities,
        datesTouched: r.datesTouched,
        outputs: r.outputs,
        failed: r.failure,
      };
    }
    case 'compute-kpi': {
      const validated = await getJson<StageReport>(
        ctx.store,
        layout.stageReport(run.runId, 'validate'),
      );
      const r = await runComputeKpi(ctx, run, validated.datesTouched ?? []);
      return {
        datesTouched: r.datesTouched,
        kpiRows: r.kpiRows,
        ...(Object.keys(r.sinkItems).length > 0 ? { sinkItems: r.sinkItems } : {}),
        outputs: r.outputs,
      };
    }
  }
}

function errorOf(error: unknown): NonNullable<StageReport['error']> {
  return {
    code: isCartpipeError(error) ? error.code : 'internal_error',
    message: describeError(error),
    ...(error instanceof InputFileError
      ? { file: error.file, ...(error.line !== undefined ? { line: error.line } : {}) }
      : {}),
  };
}

/**
 * Races work against the stop signal: once it is aborted, the work is abandoned (the process is
 * about to exit; what it wrote so far stays invisible without a SUCCEEDED report) and the
 * signal's reason becomes the stage's failure.
 */
function stopGuard(signal: AbortSignal | undefined): <T>(work: Promise<T>) => Promise<T> {
  if (!signal) return (work) => work;
  const stopped = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  stopped.catch(() => undefined);
  return (work) => {
    work.catch(() => undefined); // abandoned work failing later has nothing left to report
    return Promise.race([work, stopped]);
  };
}

/**
 * Executes `stage` for ctx.config.RUN_ID and stores its report.
 * @returns the report; its status tells the exit code (SUCCEEDED -> 0).
 */
export async function executeStage(stage: Stage, ctx: StageContext): Promise<StageReport> {
  const started = Date.now();
  const runId = ctx.config.RUN_ID;
  let run: RunManifest | undefined;
  let outcome: Outcome;
  const guard = stopGuard(ctx.signal);
  try {
    run = await guard(readRunManifest(ctx.store, runId));
    outcome = await guard(runCore(stage, ctx, run));
  } catch (error) {
    outcome = { outputs: [], failed: error };
  }
  const finished = Date.now();
  const { failed, ...rest } = outcome;
  const report: StageReport = {
    stage,
    runId,
    dataset: run?.dataset ?? 'unknown',
    batch: run?.batch ?? 'unknown',
    status: failed ? 'FAILED' : 'SUCCEEDED',
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs: finished - started,
    ...rest,
    ...(failed ? { error: errorOf(failed) } : {}),
  };
  if (failed)
    ctx.log.error('stage failed', {
      stage,
      runId,
      error: report.error,
      stack: failed instanceof Error ? failed.stack : undefined,
    });
  else ctx.log.info('stage succeeded', { stage, runId, durationMs: report.durationMs });
  await putJson(ctx.store, layout.stageReport(runId, stage), report);
  return report;
}
