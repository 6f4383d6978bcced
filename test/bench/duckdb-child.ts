/**
 * One DuckDB step in its own process (threads=1 or 2), so its peak RSS and time are its own.
 * Writes what it measured as JSON to --out.
 *   node dist/test/bench/duckdb-child.js --step validate --threads 1 --dir <work> --out r.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { duckComputeKpi, duckUpload, duckValidate, type StepResult } from './duckdb-work.js';
import { folderBytes } from './measure.js';

export interface DuckChildResult extends StepResult {
  step: string;
  threads: number;
  ms: number;
  maxRssKb: number;
  userCpuMs: number;
  systemCpuMs: number;
  outputBytes: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      step: { type: 'string' },
      threads: { type: 'string' },
      dir: { type: 'string' },
      files: { type: 'string' },
      run: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const dir = values.dir!;
  const instance = await DuckDBInstance.create(':memory:', { threads: values.threads! });
  const connection = await instance.connect();
  const started = performance.now();
  let result: StepResult;
  if (values.step === 'upload') {
    const files = JSON.parse(readFileSync(values.files!, 'utf8')) as Record<string, string[]>;
    result = await duckUpload(connection, dir, files);
  } else if (values.step === 'validate') {
    const run = JSON.parse(values.run!) as { runId: string; loadedAt: string };
    result = await duckValidate(connection, dir, run);
  } else if (values.step === 'compute-kpi') {
    result = await duckComputeKpi(connection, dir);
  } else throw new Error(`unknown step ${values.step}`);
  const ms = performance.now() - started;
  connection.closeSync();
  instance.closeSync();
  const usage = process.resourceUsage();
  const out: DuckChildResult = {
    ...result,
    step: values.step,
    threads: Number(values.threads),
    ms,
    maxRssKb: usage.maxRSS,
    userCpuMs: usage.userCPUTime / 1000,
    systemCpuMs: usage.systemCPUTime / 1000,
    outputBytes: result.outputDirs.reduce((sum, d) => sum + folderBytes(`${dir}/${d}`), 0),
  };
  writeFileSync(values.out!, JSON.stringify(out));
}

await main();
