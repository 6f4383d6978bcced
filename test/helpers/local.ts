/**
 * Test harness on the real local servers: a fresh local runtime (s3rver + dynalite on random
 * ports, data in a temp folder) and stage contexts whose adapters talk to it over the SDK.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_ENV, readConfig, type JobConfig } from '../../src/config.js';
import { layout, STAGES, type Stage } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import { startLocalRuntime, type LocalRuntime } from '../../src/adapters/local/local-runtime.js';
import { storesFor } from '../../src/cli/local-session.js';
import { submitBatch, type LocalFile } from '../../src/cli/submit.js';
import { silentLogger } from '../../src/log.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import type { HistoryStore } from '../../src/ports/history-store.js';
import type { KpiStore } from '../../src/ports/kpi-store.js';
import { getJson, listAll, putJson, type ObjectStore } from '../../src/ports/object-store.js';
import { bufferOf, readParquet } from '../../src/formats/parquet.js';
import { executeStage } from '../../src/stages/run-stage.js';
import type { StageContext, StageConfig } from '../../src/stages/context.js';

export interface TestRuntime {
  runtime: LocalRuntime;
  dir: string;
  store: ObjectStore;
  kpis: KpiStore;
  history: HistoryStore;
  /** Stage context for a run, with config overrides. */
  context(runId: string, overrides?: Partial<StageConfig>): StageContext;
  /** Submits files as a batch and creates its run (no stage run yet). */
  createRun(dataset: string, batch: string, files: LocalFile[], createdAt?: Date): Promise<string>;
  /** Runs stages in-process in order, stopping at the first failure. */
  runStages(
    runId: string,
    stages?: readonly Stage[],
    overrides?: Partial<StageConfig>,
  ): Promise<StageReport[]>;
  /** createRun + runStages; throws when a stage fails (use createRun + runStages to see failures). */
  load(
    dataset: string,
    batch: string,
    files: LocalFile[],
    createdAt?: Date,
  ): Promise<StageReport[]>;
  stop(): Promise<void>;
}

let clock = Date.UTC(2026, 0, 1);

export async function startTestRuntime(env: Record<string, string> = {}): Promise<TestRuntime> {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-test-'));
  const config = readConfig(LOCAL_ENV, { CARTPIPE_DATA_DIR: dir, ...env });
  const runtime = await startLocalRuntime(config);
  const { store, kpis, history } = storesFor(runtime.env);
  const context = (runId: string, overrides: Partial<StageConfig> = {}): StageContext => {
    const stageConfig: StageConfig = {
      RUN_ID: runId,
      CARTPIPE_TIME_ZONE: 'UTC',
      CARTPIPE_REJECT_THRESHOLD: 0.5,
      CARTPIPE_ROWS_PER_PART: 1_000_000,
      CARTPIPE_MAX_FILE_BYTES: 1024 ** 3,
      ...overrides,
    } satisfies Partial<JobConfig>;
    return { store, kpis, history, config: stageConfig, log: silentLogger };
  };
  const createRun = async (
    dataset: string,
    batch: string,
    files: LocalFile[],
    createdAt?: Date,
  ) => {
    const submitted = await submitBatch(store, { dataset, batch, files });
    // Runs loaded one after another must be ordered even within one millisecond.
    clock += 1000;
    const run = await resolveRunManifest(
      store,
      { key: submitted.manifestKey, etag: submitted.manifestEtag },
      createdAt ?? new Date(clock),
    );
    await putJson(store, layout.runManifest(run.runId), run);
    return run.runId;
  };
  const runStages = async (
    runId: string,
    stages: readonly Stage[] = STAGES,
    overrides?: Partial<StageConfig>,
  ) => {
    const reports: StageReport[] = [];
    for (const stage of stages) {
      const report = await executeStage(stage, context(runId, overrides));
      reports.push(report);
      if (report.status !== 'SUCCEEDED') break;
    }
    return reports;
  };
  return {
    runtime,
    dir,
    store,
    kpis,
    history,
    context,
    createRun,
    runStages,
    load: async (dataset, batch, files, createdAt) =>
      runStages(await createRun(dataset, batch, files, createdAt)),
    async stop() {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function readReport(store: ObjectStore, runId: string, stage: Stage): Promise<StageReport> {
  return getJson<StageReport>(store, layout.stageReport(runId, stage));
}

/** Real sample data sets shipped next to the project. */
export const DATASETS = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  '..',
  '..',
  '..',
  'shared',
  'datasets',
);

/** validated/, held/ and rejected/ rows per partition folder (part files merged), each sorted. */
export async function rowsByPartition(store: ObjectStore): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const o of await listAll(store, '')) {
    if (!/^(validated|held|rejected)\//.test(o.key)) continue;
    const rows = (out[o.key.slice(0, o.key.lastIndexOf('/'))] ??= []);
    for await (const group of readParquet(bufferOf(await store.get(o.key)))) {
      const names = Object.keys(group).sort();
      for (let i = 0; i < group[names[0]!]!.length; i++)
        rows.push(JSON.stringify(names.map((n) => group[n]![i])));
    }
  }
  for (const rows of Object.values(out)) rows.sort();
  return out;
}
