/**
 * Shared by the profile tests: runs with manifest options on the test runtime, DuckDB for the
 * independent references, and a row comparison that names every difference.
 */
import { expect } from '@jest/globals';
import { STAGES } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import { submitBatch, type LocalFile } from '../../src/cli/submit.js';
import { bufferOf, readParquet, type Columns, type Value } from '../../src/formats/parquet.js';
import { layout } from '../../src/contracts/layout.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import type { KpiRow } from '../../src/ports/kpi-store.js';
import { listAll, putJson } from '../../src/ports/object-store.js';
import type { StageConfig } from '../../src/stages/context.js';
import type { TestRuntime } from '../helpers/local.js';
import { compareRowsByKey } from '../bench/compare.js';

export { duckdb, query } from './duckdb.js';

let clock = Date.UTC(2026, 2, 1);

/** Submits a batch (with manifest options) and runs every stage in-process. */
export async function loadRun(
  t: TestRuntime,
  dataset: string,
  batch: string,
  files: LocalFile[],
  options?: { manifest?: Record<string, unknown>; config?: Partial<StageConfig> },
): Promise<{ runId: string; reports: StageReport[] }> {
  const submitted = await submitBatch(t.store, {
    dataset,
    batch,
    files,
    ...(options?.manifest ? { options: options.manifest } : {}),
  });
  clock += 1000;
  const run = await resolveRunManifest(
    t.store,
    { key: submitted.manifestKey, etag: submitted.manifestEtag },
    new Date(clock),
  );
  await putJson(t.store, layout.runManifest(run.runId), run);
  const reports = await t.runStages(run.runId, STAGES, options?.config);
  return { runId: run.runId, reports };
}

/** Asserts every stage succeeded, showing the failing report otherwise. */
export function expectSucceeded(reports: StageReport[]): void {
  const failed = reports.find((r) => r.status !== 'SUCCEEDED');
  expect(failed?.error ?? null).toBeNull();
  expect(reports.map((r) => r.stage)).toEqual([...STAGES]);
}

/** rows in = valid + rejected + held + duplicates dropped, for every entity. */
export function expectRowsReconcile(validate: StageReport): void {
  for (const [entity, c] of Object.entries(validate.entities ?? {})) {
    expect({ entity, accounted: c.valid + c.rejected + c.held + c.duplicatesDropped }).toEqual({
      entity,
      accounted: c.rowsIn,
    });
  }
}

/**
 * Compares KPI rows to reference rows matched by `keys`: every expected column must be equal,
 * numbers within `tolerance` relative (float sums differ in the last bits between engines).
 */
export function expectRowsMatch(
  actual: readonly KpiRow[],
  expected: readonly Record<string, Value>[],
  keys: readonly string[],
  tolerance = 1e-9,
): void {
  expect(compareRowsByKey('', actual, expected, keys, tolerance).mismatches).toEqual([]);
}

/** Every row of validated/<dataset>/<entity>/ (all runs), for checks on stored values. */
export async function validatedRows(
  t: TestRuntime,
  dataset: string,
  entity: string,
): Promise<Columns> {
  const out: Columns = {};
  for (const object of await listAll(t.store, layout.entityPrefix('validated', dataset, entity))) {
    if (!object.key.endsWith('.parquet')) continue;
    for await (const cols of readParquet(bufferOf(await t.store.get(object.key)))) {
      for (const [name, values] of Object.entries(cols)) (out[name] ??= []).push(...values);
    }
  }
  return out;
}
