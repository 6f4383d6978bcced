import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths, type LocalFile } from '../../src/cli/submit.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { expectKpisEqual, referenceKpis, type ReferenceKpis } from './reference.js';

const SAMPLE = join(DATASETS, 'thelook-lab');
const all = expandPaths([SAMPLE]);
const pick = (pattern: RegExp): LocalFile[] => all.filter((f) => pattern.test(f.name));

async function expectReference(t: TestRuntime, reference: ReferenceKpis) {
  expectKpisEqual(await t.kpis.list('thelook', 'daily'), reference.daily, ['order_date']);
  expectKpisEqual(await t.kpis.list('thelook', 'category_daily'), reference.categoryDaily, [
    'category',
    'order_date',
  ]);
}

describe('thelook loaded as several batches', () => {
  let reference: ReferenceKpis;
  let t: TestRuntime | undefined;
  beforeAll(async () => {
    reference = await referenceKpis(SAMPLE);
  });
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('holds items whose order or product has not arrived and releases them when it does (items first)', async () => {
    t = await startTestRuntime();
    const first = await t.load('thelook', 'items-first', pick(/^order_items\//));
    const v1 = first[1]!.entities!.order_items!;
    expect(v1).toMatchObject({ rowsIn: 27_007, valid: 0, held: 27_007, rejected: 0 });
    expect(first[2]!.datesTouched).toEqual([]);
    expect(await t.kpis.list('thelook', 'daily')).toEqual([]);

    const second = await t.load('thelook', 'orders-1-3', pick(/^orders\/orders_part[123]\.csv$/));
    // Products are still missing: nothing can be released yet.
    expect(second[1]!.entities!.order_items!.released).toBe(0);

    const third = await t.load('thelook', 'products', pick(/^products\.csv$/));
    const released = third[1]!.entities!.order_items!.released;
    expect(released).toBeGreaterThan(0);
    expect(released).toBeLessThan(27_007);

    const fourth = await t.load('thelook', 'orders-4-6', pick(/^orders\/orders_part[456]\.csv$/));
    expect(released + fourth[1]!.entities!.order_items!.released).toBe(27_007);
    await expectReference(t, reference);
  });

  it('gives the same KPIs whatever the order of batches (products, items, orders interleaved)', async () => {
    t = await startTestRuntime();
    await t.load('thelook', 'b1', [
      ...pick(/^orders\/orders_part[56]\.csv$/),
      ...pick(/^order_items\/order_items_part(1|2|3|4|5|6|7)\.csv$/),
    ]);
    await t.load('thelook', 'b2', pick(/^products\.csv$/));
    await t.load('thelook', 'b3', [
      ...pick(/^order_items\/order_items_part(8|9|1\d)\.csv$/),
      ...pick(/^orders\/orders_part[1234]\.csv$/),
    ]);
    await expectReference(t, reference);
  });

  it('replaces an order re-sent in a later batch (latest version wins) and recomputes its date', async () => {
    t = await startTestRuntime();
    await t.load('thelook', 'all', all);
    // Order 2 (delivered on 2025-03-29) comes back as returned.
    const dir = mkdtempSync(join(tmpdir(), 'thelook-resend-'));
    cpSync(SAMPLE, dir, { recursive: true });
    const ordersPath = join(dir, 'orders', 'orders_part1.csv');
    const lines = readFileSync(ordersPath, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('2,'));
    expect(lines[at]).toContain(',delivered,');
    lines[at] = lines[at]!.replace(',delivered,', ',returned,');
    writeFileSync(ordersPath, lines.join('\n'));
    writeFileSync(join(dir, 'resend.csv'), `${lines[0]}\n${lines[at]}\n`);

    const reports = await t.load('thelook', 'resend', [
      { path: join(dir, 'resend.csv'), name: 'orders_resend.csv' },
    ]);
    expect(reports[2]!.datesTouched).toEqual(['2025-03-29']);
    await expectReference(t, await referenceKpis(dir));
  });
});
