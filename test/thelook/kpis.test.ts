import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { expandPaths } from '../../src/cli/submit.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { expectKpisEqual, referenceKpis, type ReferenceKpis } from './reference.js';

const SAMPLE = join(DATASETS, 'thelook-lab');

describe('thelook KPIs over the whole real sample', () => {
  let t: TestRuntime;
  let reference: ReferenceKpis;
  beforeAll(async () => {
    t = await startTestRuntime();
    reference = await referenceKpis(SAMPLE);
  });
  afterAll(async () => t.stop());

  it('loads 6 orders files, 19 order_items files and products.csv, with counts that reconcile', async () => {
    const files = expandPaths([SAMPLE]);
    expect(files.filter((f) => f.name.startsWith('orders/'))).toHaveLength(6);
    expect(files.filter((f) => f.name.startsWith('order_items/'))).toHaveLength(19);
    const reports = await t.load('thelook', 'whole-sample', files);
    expect(reports.map((r) => [r.stage, r.status])).toEqual([
      ['upload', 'SUCCEEDED'],
      ['validate', 'SUCCEEDED'],
      ['compute-kpi', 'SUCCEEDED'],
    ]);
    const validate = reports[1]!;
    for (const [entity, c] of Object.entries(validate.entities!)) {
      expect({ entity, total: c.valid + c.rejected + c.held + c.duplicatesDropped }).toEqual({
        entity,
        total: c.rowsIn,
      });
    }
    expect(validate.entities!.order_items!.rowsIn).toBe(27_007);
    expect(validate.entities!.orders!.valid).toBe(9_000);
    expect(validate.entities!.products!.valid).toBe(10_000);
  });

  it('gives every day the reference order-level KPIs (DuckDB over the raw CSVs)', async () => {
    const daily = await t.kpis.list('thelook', 'daily');
    expect(daily.length).toBe(reference.daily.length);
    expectKpisEqual(daily, reference.daily, ['order_date']);
  });

  it('gives every category-day the reference category-level KPIs', async () => {
    const categoryDaily = await t.kpis.list('thelook', 'category_daily');
    expect(categoryDaily.length).toBe(reference.categoryDaily.length);
    expectKpisEqual(categoryDaily, reference.categoryDaily, ['category', 'order_date']);
  });
});
