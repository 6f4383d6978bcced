/**
 * One stage in its own process, so its peak RSS is its own: executeStage, the code the job runs
 * (run manifest in, the stage core, its report out), over a local-folder ObjectStore and an
 * in-memory KpiStore and HistoryStore (no HTTP). Writes what it measured as JSON to --out, with
 * compute-kpi's KPI rows unless --kpi-counts-only (a profile with millions of KPI rows: they are
 * counted, neither kept nor written).
 *   node dist/test/bench/stage-child.js --stage validate --root <store> --run <id> --out r.json
 * --latency-ms L adds L ms to every object store call, --kpi-latency-ms K K ms to every round trip
 * the KPI store would make.
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
import { MemoryHistoryStore, MemoryKpiStore } from './fs-stores.js';
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
  /** Round trips to the KPI store, counted when a latency was added (--kpi-latency-ms). */
  kpiCalls?: number;
  /** Objects the stage read, by area (raw, validated, ...): parts read shows partition pruning. */
  reads: Record<string, { objects: number; bytes: number }>;
  report: StageReport;
  /** compute-kpi: the KPI rows it stored, by KPI name. */
  kpiRows?: Record<string, unknown[]>;
  /** compute-kpi with --kpi-counts-only: how many KPI rows it stored, by KPI name. */
  kpiRowCounts?: Record<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string' },
      root: { type: 'string' },
      run: { type: 'string' },
      out: { type: 'string' },
      'latency-ms': { type: 'string', default: '0' },
      'kpi-latency-ms': { type: 'string', default: '0' },
      'kpi-counts-only': { type: 'boolean', default: false },
    },
  });
  const stage = values.stage as Stage;
  const folder = new FsObjectStore(values.root!);
  const latencyMs = Number(values['latency-ms']);
  const store = latencyMs > 0 ? new DelayedObjectStore(folder, latencyMs) : folder;
  const countsOnly = values['kpi-counts-only']!;
  const kpis = new MemoryKpiStore(!countsOnly, Number(values['kpi-latency-ms']));
  // The job's own config module, so settings added there (and CARTPIPE_* overrides) apply.
  const config = readConfig(JOB_ENV, {
    ...process.env,
    RUN_ID: values.run!,
    CARTPIPE_BUCKET: folder.bucket,
  });
  const log = createLogger('warn', { stage, runId: values.run });
  const started = performance.now();
  const history = new MemoryHistoryStore();
  const report = await executeStage(stage, { store, kpis, config, log, history });
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
    ...(kpis.calls > 0 ? { kpiCalls: kpis.calls } : {}),
    report,
    ...(stage === 'compute-kpi' && countsOnly ? { kpiRowCounts: kpis.counts(report.dataset) } : {}),
    ...(stage === 'compute-kpi' && !countsOnly
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
