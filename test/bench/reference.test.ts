/**
 * The benchmark's reference at a small size: the stages (in-process, local-folder store) and the
 * DuckDB restatement of the thelook rules must agree on every validation count and KPI row of a
 * generated set with every kind of bad row. Keeps the reference honest as the stages change.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { JOB_ENV, readConfig } from '../../src/config.js';
import { STAGES } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import { silentLogger } from '../../src/log.js';
import { executeStage } from '../../src/stages/run-stage.js';
import { compareCounts, compareKpiRows } from './compare.js';
import {
  duckComputeKpi,
  duckUpload,
  duckValidate,
  readKpiRows,
  resetStepOutputs,
  type StepResult,
} from './duckdb-work.js';
import { createLocalRun, MemoryKpiStore } from './fs-stores.js';
import { FsObjectStore } from './object-stores.js';
import { generate } from './generate.js';

const root = mkdtempSync(join(tmpdir(), 'cartpipe-bench-ref-'));
const data = generate(root, { rows: 4000, seed: 11, days: 6, parts: 2, startDate: '2024-04-01' });
const kpis = new MemoryKpiStore();
const reports: StageReport[] = [];
let instance: DuckDBInstance;
let duck: DuckDBConnection;
let validated: StepResult;

beforeAll(async () => {
  const storeRoot = join(root, 'store');
  const runId = await createLocalRun(storeRoot, 'ref', data.files);
  const store = new FsObjectStore(storeRoot);
  const config = readConfig(JOB_ENV, { RUN_ID: runId, CARTPIPE_BUCKET: store.bucket });
  for (const stage of STAGES)
    reports.push(await executeStage(stage, { store, kpis, config, log: silentLogger }));

  instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  duck = await instance.connect();
  const dir = join(root, 'duckdb');
  const files: Record<string, string[]> = {};
  for (const f of data.files) (files[f.entity] ??= []).push(f.path);
  resetStepOutputs(dir, 'upload');
  await duckUpload(duck, dir, files);
  resetStepOutputs(dir, 'validate');
  validated = await duckValidate(duck, dir, { runId: 'ref', loadedAt: '2025-01-01 00:00:00' });
  resetStepOutputs(dir, 'compute-kpi');
  await duckComputeKpi(duck, dir);
});

afterAll(() => {
  duck?.closeSync();
  instance?.closeSync();
  rmSync(root, { recursive: true, force: true });
});

describe('benchmark reference (DuckDB) against the stages', () => {
  it('runs every stage to success', () => {
    expect(reports.map((r) => [r.stage, r.status])).toEqual(STAGES.map((s) => [s, 'SUCCEEDED']));
  });

  it('counts the same valid, rejected (by reason), held and dropped rows', () => {
    const validate = reports[1]!;
    const result = compareCounts(validate.entities ?? {}, validated.counts!);
    expect(result.mismatches).toEqual([]);
    // The generated bad rows really are there to be caught.
    const items = validate.entities!.order_items!;
    expect(items.held).toBeGreaterThan(0);
    expect(items.duplicatesDropped).toBeGreaterThan(0);
    expect(Object.keys(items.rejectsByReason)).toEqual(
      expect.arrayContaining(['ragged_row', 'below_minimum:sale_price', 'duplicate_key']),
    );
  });

  it.each(['daily', 'category_daily'] as const)('computes the same %s KPIs', async (kpi) => {
    const reference = await readKpiRows(
      duck,
      join(root, 'duckdb', 'kpis', kpi, '*', '*.parquet'),
      kpi,
    );
    expect(reference.length).toBeGreaterThanOrEqual(6);
    const ours = await kpis.list('thelook', kpi);
    expect(compareKpiRows(kpi, ours, reference).mismatches).toEqual([]);
  });
});
