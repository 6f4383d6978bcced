/**
 * compute-kpi: recomputes the KPIs of every date the run touched from all validated data of
 * those dates (not only this batch), then replaces the stored rows of each (kpi, date) in
 * DynamoDB and its Parquet file under kpis/. Replacing whole dates makes re-runs idempotent.
 */
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout } from '../contracts/layout.js';
import type { RunManifest } from '../contracts/manifest.js';
import { ParquetFileWriter, type Value } from '../formats/parquet.js';
import { getProfile } from '../profiles/registry.js';
import type { KpiInput } from '../profiles/types.js';
import type { StageContext } from './context.js';
import { ValidatedReader } from './validated-reader.js';

export interface ComputeKpiResult {
  datesTouched: string[];
  kpiRows: Record<string, number>;
  outputs: string[];
  partsRead: number;
}

export async function runComputeKpi(
  ctx: StageContext,
  run: RunManifest,
  dates: readonly string[],
): Promise<ComputeKpiResult> {
  const profile = getProfile(run.dataset);
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-kpi-'));
  const kpiRows: Record<string, number> = Object.fromEntries(profile.kpis.map((k) => [k.name, 0]));
  const outputs: string[] = [];
  let partsRead = 0;
  try {
    for (const date of dates) {
      // A fresh reader per date keeps memory to one date's rows (plus undated entities).
      const reader = new ValidatedReader(ctx.store, profile);
      const input: KpiInput = {
        timeZone: ctx.config.CARTPIPE_TIME_ZONE,
        options: run.options,
        rows: (entity, d) => reader.rows(entity, d),
      };
      const byKpi = await profile.computeKpis(input, date);
      partsRead += reader.partsRead;
      for (const kpi of profile.kpis) {
        const rows = byKpi[kpi.name] ?? [];
        await ctx.kpis.replaceDate({
          dataset: run.dataset,
          kpi: kpi.name,
          date,
          groupBy: kpi.groupBy,
          rows,
        });
        const key = layout.kpiPartKey(run.dataset, kpi.name, date);
        if (rows.length === 0) {
          await ctx.store.delete([key]);
          continue;
        }
        const path = join(dir, `${kpi.name}-${date}.parquet`);
        const writer = new ParquetFileWriter(path, kpi.columns);
        writer.write(
          Object.fromEntries(
            kpi.columns.map((c) => [c.name, rows.map((r) => (r[c.name] ?? null) as Value)]),
          ),
        );
        writer.close();
        await ctx.store.putFile(key, path, 'application/vnd.apache.parquet');
        rmSync(path, { force: true });
        outputs.push(key);
        kpiRows[kpi.name]! += rows.length;
      }
      ctx.log.debug('kpis computed', { date });
    }
    return { datesTouched: [...dates], kpiRows, outputs, partsRead };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
