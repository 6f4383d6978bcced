/**
 * One stage in its own process, so its peak RSS is its own: executeStage, the code the job runs
 * (run manifest in, the stage core, its report out), over a local-folder ObjectStore and an
 * in-memory KpiStore (no HTTP). Writes what it measured as JSON to --out.
 *   node dist/test/bench/stage-child.js --stage validate --root <store> --run <id> --out r.json
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { JOB_ENV, readConfig } from '../../src/config.js';
import type { Stage } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import { createLogger } from '../../src/log.js';
import { getProfile } from '../../src/profiles/registry.js';
import { executeStage } from '../../src/stages/run-stage.js';
import { MemoryKpiStore } from './fs-stores.js';
import { DelayedObjectStore, FsObjectStore } from './object-stores.js';

export interface StageChildResult {
  stage: string;
  /** Wall time of the stage alone (module loading and process start excluded). */
  ms: number;
  maxRssKb: number;
  userCpuMs: number;
  systemCpuMs: number;
  outputs: number;
  outputBytes: number;
  /** Calls the stage made on its store, counted when a latency was added (--latency-ms). */
  storeCalls?: number;
  /** Objects the stage read, by area (raw, validated, ...): parts read shows partition pruning. */
  reads: Record<string, { objects: number; bytes: number }>;
  report: StageReport;
  /** compute-kpi: the KPI rows it stored, by KPI name. */
  kpiRows?: Record<string, unknown[]>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string' },
      root: { type: 'string' },
      run: { type: 'string' },
      out: { type: 'string' },
      'latency-ms': { type: 'string', default: '0' },
    },
  });
  const stage = values.stage as Stage;
  const folder = new FsObjectStore(values.root!);
  const latencyMs = Number(values['latency-ms']);
  const store = latencyMs > 0 ? new DelayedObjectStore(folder, latencyMs) : folder;
  const kpis = new MemoryKpiStore();
  // The job's own config module, so settings added there (and CARTPIPE_* overrides) apply.
  const config = readConfig(JOB_ENV, {
    ...process.env,
    RUN_ID: values.run!,
    CARTPIPE_BUCKET: folder.bucket,
  });
  const log = createLogger('warn', { stage, runId: values.run });
  const started = performance.now();
  const report = await executeStage(stage, { store, kpis, config, log });
  const ms = performance.now() - started;
  const usage = process.resourceUsage();
  const out: StageChildResult = {
    stage,
    ms,
    maxRssKb: usage.maxRSS,
    userCpuMs: usage.userCPUTime / 1000,
    systemCpuMs: usage.systemCPUTime / 1000,
    outputs: report.outputs.length,
    outputBytes: await folder.sizeOf(report.outputs),
    reads: folder.reads,
    ...(store instanceof DelayedObjectStore ? { storeCalls: store.calls } : {}),
    report,
    ...(stage === 'compute-kpi'
      ? {
          kpiRows: Object.fromEntries(
            await Promise.all(
              getProfile(report.dataset).kpis.map(
                async (k) => [k.name, await kpis.list(report.dataset, k.name)] as const,
              ),
            ),
          ),
        }
      : {}),
  };
  writeFileSync(values.out!, JSON.stringify(out));
}

await main();
