import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalFile } from '../../src/cli/submit.js';
import type { EntityCounts } from '../../src/contracts/report.js';
import { createLogger } from '../../src/log.js';
import { readRunManifest } from '../../src/stages/context.js';
import { runValidate, type ValidateOptions } from '../../src/stages/validate.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

/**
 * validate finds a row's parent in this run's valid keys first and in the history only then, so
 * it gathers from the history only the parent keys its rows refer to that this run did not
 * validate. A re-sent batch refers to its own parents: at 20M order_items rows that was 6.67M
 * order keys gathered, and indexed from the history, for nothing. The history here is filtered
 * from its first key (parentKeysUnfiltered 0), as a history past 500,000 parent keys is, and the
 * batch's references are read as a large batch's are (referencedKeysGathered 0: a second read for
 * the keys outside a dense range).
 */
const FILTERED: ValidateOptions = { parentKeysUnfiltered: 0, referencedKeysGathered: 0 };
const dir = mkdtempSync(join(tmpdir(), 'validate-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const csv = (header: string, rows: string[]) => [header, ...rows].join('\n') + '\n';
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const created = (id: number) => `2025-03-${String((id % 28) + 1).padStart(2, '0')}T10:00:00`;
const ordersHeader =
  'order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item';
const itemsHeader =
  'id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price';
const orderRow = (id: number, status = 'delivered', at = created(id)) =>
  `${id},${1000 + id},${status},${at},,${at},${at},1`;
const itemRow = (id: number, order: number) =>
  `${id},${order},${1000 + order},${(id % 20) + 1},delivered,${created(order)},,,,12.50`;

function write(batch: string, files: [string, string][]): LocalFile[] {
  return files.map(([name, text]) => {
    const path = join(dir, `${batch}-${name}`);
    writeFileSync(path, text);
    return { path, name };
  });
}

const products = range(1, 20).map(
  (i) => `${i},SKU-${i},10.5,${['Jeans', 'Tops'][i % 2]},Item ${i},Brand,20,Women`,
);
const productsCsv = csv('id,sku,cost,category,name,brand,retail_price,department', products);

/** What validate of the second batch logged of the parent keys it wanted from the history. */
interface Validated {
  /** Per parent: the values its children refer to that this run did not validate, if ids. */
  wanted: Record<string, { values?: number; dense: boolean }>;
  counts: Record<string, EntityCounts>;
  /** Dates the batch's valid rows went to: an item's is its order's, as the index says. */
  touched: string[];
}

async function validateLogging(
  t: TestRuntime,
  runId: string,
  options: ValidateOptions,
): Promise<Validated> {
  const wanted: Validated['wanted'] = {};
  const log = createLogger('debug', {}, (line) => {
    const entry = JSON.parse(line) as {
      message: string;
      entity: string;
      values?: number;
      range?: object;
    };
    if (entry.message === 'parent keys wanted from the history')
      wanted[entry.entity] = { values: entry.values, dense: entry.range !== undefined };
  });
  const ctx = { ...t.context(runId), log };
  const result = await runValidate(ctx, await readRunManifest(t.store, runId), options);
  return { wanted, counts: result.entities, touched: [...result.datesTouched].sort() };
}

describe('validate wants from the history only the parent keys this run did not validate', () => {
  let t: TestRuntime;
  let filtered: Validated;
  let unfiltered: Validated;
  let gatheredOnce: Validated;
  let itemsFiltered: Validated;
  let itemsUnfiltered: Validated;

  beforeAll(async () => {
    t = await startTestRuntime();
    // History: the catalogue, orders 1-300 and an item for each.
    await t.load('thelook', 'history', [
      ...write('history', [
        ['products.csv', productsCsv],
        [
          'orders.csv',
          csv(
            ordersHeader,
            range(1, 300).map((id) => orderRow(id)),
          ),
        ],
        [
          'order_items.csv',
          csv(
            itemsHeader,
            range(1, 300).map((id) => itemRow(id, id)),
          ),
        ],
      ]),
    ]);
    // Orders 101-300 re-sent (some now returned), items for orders 1-300 and one for an order
    // that exists nowhere: orders 1-100 and 9999 are wanted from the history, not 101-300.
    const runId = await t.createRun(
      'thelook',
      'resent',
      write('resent', [
        [
          'orders.csv',
          csv(
            ordersHeader,
            range(101, 300).map((id) =>
              // Order 150 moves to another day: its items follow it from now on.
              id === 150
                ? orderRow(id, 'delivered', '2025-04-15T10:00:00')
                : orderRow(id, id % 10 === 0 ? 'returned' : 'delivered'),
            ),
          ),
        ],
        [
          'order_items.csv',
          csv(itemsHeader, [
            ...range(1, 300).map((id) => itemRow(10_000 + id, id)),
            itemRow(20_000, 9999),
          ]),
        ],
      ]),
    );
    await t.runStages(runId, ['upload']);
    filtered = await validateLogging(t, runId, FILTERED);
    // A daily batch's few references are gathered in one read and looked up in a hash table.
    gatheredOnce = await validateLogging(t, runId, { parentKeysUnfiltered: 0 });
    // A re-run of the stage with the history indexed whole gives the same outcome.
    unfiltered = await validateLogging(t, runId, {});
    // runValidate alone writes no stage report: the stage commits the run for later batches.
    await t.runStages(runId, ['validate', 'compute-kpi']);
    // Items alone, for orders of the history (1-300, some re-sent by the batch above): the
    // orders wanted are ids filling their range, which the history's index holds densely.
    const itemsRun = await t.createRun(
      'thelook',
      'items-only',
      write('items-only', [
        [
          'order_items.csv',
          csv(
            itemsHeader,
            range(1, 300).map((id) => itemRow(30_000 + id, id)),
          ),
        ],
      ]),
    );
    await t.runStages(itemsRun, ['upload']);
    itemsFiltered = await validateLogging(t, itemsRun, FILTERED);
    itemsUnfiltered = await validateLogging(t, itemsRun, {});
  }, 120_000);
  afterAll(() => t?.stop());

  it('gathers the orders and products the batch refers to, less the orders it carries', () => {
    // Orders 1-100 and 9999 (not 101-300); a product for each of the 301 items.
    expect(filtered.wanted.orders?.values).toBe(101);
    expect(filtered.wanted.products?.values).toBe(301);
    // Indexed whole, the history is never filtered, so nothing is gathered.
    expect(unfiltered.wanted).toEqual({});
  });

  it('finds every parent, in this run or in the history, as with the whole history', () => {
    expect(filtered.counts.orders).toMatchObject({ rowsIn: 200, valid: 200, rejected: 0 });
    expect(filtered.counts.order_items).toMatchObject({
      rowsIn: 301,
      valid: 300,
      held: 1,
      rejected: 0,
    });
    expect(filtered.counts).toEqual(unfiltered.counts);
    expect(filtered.touched).toEqual(unfiltered.touched);
    expect(gatheredOnce.wanted.orders).toEqual({ values: 101, dense: false });
    expect(gatheredOnce.counts).toEqual(unfiltered.counts);
    expect(gatheredOnce.touched).toEqual(unfiltered.touched);
  });

  it('finds the parents of a batch of items alone in a dense index of the history', () => {
    // Orders 1-300, and 9999 for the item the re-sent batch holds: an outlier the dense range
    // leaves to the index's hash table.
    expect(itemsFiltered.wanted.orders).toEqual({ values: 301, dense: true });
    expect(itemsFiltered.counts.order_items).toMatchObject({ rowsIn: 300, valid: 300, held: 0 });
    expect(itemsFiltered.counts).toEqual(itemsUnfiltered.counts);
    // Orders 1-300 are on the 28 days of March their ids give, and order 150 now on April 15th.
    expect(itemsFiltered.touched).toEqual(
      [...range(1, 28).map((d) => created(d).slice(0, 10)), '2025-04-15'].sort(),
    );
    expect(itemsFiltered.touched).toEqual(itemsUnfiltered.touched);
  });
});
