/**
 * The data of the reliability tests: small batches cut from the shipped thelook sample
 * (test/fixtures/thelook-sample: 150 orders, 422 items, 417 products), written to a temp folder
 * at test time, and the snapshot that "identical outputs" is judged on.
 */
import { afterAll } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths, type LocalFile } from '../../src/cli/submit.js';
import { STAGES } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import type { KpiRow, KpiStore } from '../../src/ports/kpi-store.js';
import { getJson, listAll, type ObjectStore } from '../../src/ports/object-store.js';
import { startTestRuntime } from '../helpers/local.js';

export const SAMPLE = join(
  import.meta.dirname ?? new URL('.', import.meta.url).pathname,
  '..',
  'fixtures',
  'thelook-sample',
);

interface Csv {
  header: string;
  rows: string[];
}

function readCsv(path: string): Csv {
  const [header, ...rows] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  return { header: header!, rows };
}

export const sample = {
  orders: () => readCsv(join(SAMPLE, 'orders', 'orders_part1.csv')),
  items: () => readCsv(join(SAMPLE, 'order_items', 'order_items_part1.csv')),
  products: () => readCsv(join(SAMPLE, 'products.csv')),
};

/** Temp folders writeBatch made for the test file importing this: removed after its tests. */
const batchDirs: string[] = [];
afterAll(() => {
  for (const dir of batchDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (name -> CSV) into a fresh temp folder and returns them as local files. */
export function writeBatch(files: Record<string, Csv>): LocalFile[] {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-batch-'));
  batchDirs.push(dir);
  return Object.entries(files).map(([name, csv]) => {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, `${[csv.header, ...csv.rows].join('\n')}\n`);
    return { path, name };
  });
}

const orderIdOf = (row: string) => Number(row.slice(0, row.indexOf(',')));
const itemOrderOf = (row: string) => Number(row.split(',')[1]);

/** Orders of batch 2 in {@link twoBatches}: after 100, created from 2025-03-30 on (8 dates). */
export const SECOND_BATCH_ORDER = (row: string) =>
  orderIdOf(row) > 100 && row.split(',')[3]! >= '2025-03-30';

/**
 * Two batches where the second completes part of the first: batch 1 has every product, orders
 * 1-100 and all 422 items (the items of orders 101-150 are held: their orders have not arrived);
 * batch 2 has the orders after 100 of 2025-03-30 to 2025-04-06, order 7 re-sent as returned (it
 * replaces the first version) and two broken rows (rejected with reasons). Batch 2's validate
 * releases the held items of its orders (the others stay held) and its compute-kpi recomputes
 * eight dates.
 */
export function twoBatches(): { first: LocalFile[]; second: LocalFile[] } {
  const orders = sample.orders();
  const items = sample.items();
  const products = sample.products();
  const resent = orders.rows
    .find((r) => orderIdOf(r) === 7)!
    .replace(/^(7,\d+,)delivered,/, '$1returned,');
  return {
    first: writeBatch({
      'products.csv': products,
      'orders/orders_a.csv': {
        header: orders.header,
        rows: orders.rows.filter((r) => orderIdOf(r) <= 100),
      },
      'order_items/order_items_a.csv': items,
    }),
    second: writeBatch({
      'orders/orders_b.csv': {
        header: orders.header,
        rows: [
          ...orders.rows.filter(SECOND_BATCH_ORDER),
          resent,
          '151,12,shipped,not-a-date,,,,1',
          '152,13,lost-in-space,2025-03-30T10:00:00,,,,1',
        ],
      },
    }),
  };
}

/** Counts of the sample, taken from the CSV text apart from any code under test. */
export function twoBatchCounts() {
  const orders = sample.orders().rows;
  const items = sample.items().rows;
  const second = new Set(orders.filter(SECOND_BATCH_ORDER).map(orderIdOf));
  return {
    secondOrders: second.size,
    heldAfterFirst: items.filter((r) => itemOrderOf(r) > 100).length,
    releasedBySecond: items.filter((r) => second.has(itemOrderOf(r))).length,
  };
}

/**
 * Small batches for many runs at once: batch i of n gets the orders with id % n === i, their
 * items and the products those items name (a product named in several batches is re-sent
 * unchanged). Dates overlap across batches, so their runs recompute shared dates; every row's
 * parent is in its own batch, so nothing is held and the union is exactly the sample.
 */
export function slicedBatches(n: number): LocalFile[][] {
  const orders = sample.orders();
  const items = sample.items();
  const products = sample.products();
  return Array.from({ length: n }, (_, i) => {
    const mine = items.rows.filter((r) => itemOrderOf(r) % n === i);
    const named = new Set(mine.map((r) => Number(r.split(',')[3])));
    return writeBatch({
      'products.csv': {
        header: products.header,
        rows: products.rows.filter((r) => named.has(orderIdOf(r))),
      },
      'orders/orders.csv': {
        header: orders.header,
        rows: orders.rows.filter((r) => orderIdOf(r) % n === i),
      },
      'order_items/order_items.csv': { header: items.header, rows: mine },
    });
  });
}

/** What a stage report says, without its timings. */
export function reportFacts(report: StageReport) {
  const { startedAt: _s, finishedAt: _f, durationMs: _d, ...facts } = report;
  return facts;
}

export interface Snapshot {
  /** Every data object (key -> sha256), stage and run reports excluded. */
  objects: Record<string, string>;
  /** Stage reports without their timings. */
  reports: Record<string, unknown>;
  kpis: Record<string, unknown[]>;
}

const REPORT = new RegExp(`^runs/[^/]+/(${[...STAGES, 'report'].join('|')})\\.json$`);

/** The whole visible outcome: S3 objects by content, stage reports' facts, KPI items. */
export async function snapshot(store: ObjectStore, kpis: KpiStore): Promise<Snapshot> {
  const objects: Record<string, string> = {};
  const reports: Record<string, unknown> = {};
  for (const o of await listAll(store, '')) {
    if (REPORT.test(o.key)) {
      if (!o.key.endsWith('/report.json'))
        reports[o.key] = reportFacts(await getJson<StageReport>(store, o.key));
      continue;
    }
    objects[o.key] = createHash('sha256')
      .update(await store.get(o.key))
      .digest('hex');
  }
  return {
    objects,
    reports,
    kpis: {
      daily: await kpis.list('thelook', 'daily'),
      category_daily: await kpis.list('thelook', 'category_daily'),
    },
  };
}

/**
 * The reference the reliability tests judge KPIs by: the whole sample loaded as one batch, in order,
 * without faults or concurrency, on a runtime of its own.
 */
export async function oneLoadKpis(
  batch: string,
): Promise<Record<'daily' | 'category_daily', KpiRow[]>> {
  const t = await startTestRuntime();
  try {
    const reports = await t.load('thelook', batch, expandPaths([SAMPLE]));
    const statuses = reports.map((r) => r.status);
    if (statuses.some((s) => s !== 'SUCCEEDED'))
      throw new Error(`the reference load did not succeed: ${statuses.join(', ')}`);
    return {
      daily: await t.kpis.list('thelook', 'daily'),
      category_daily: await t.kpis.list('thelook', 'category_daily'),
    };
  } finally {
    await t.stop();
  }
}
