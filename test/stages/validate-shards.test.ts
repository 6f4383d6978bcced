import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalFile } from '../../src/cli/submit.js';
import type { EntityCounts } from '../../src/contracts/report.js';
import { listAll } from '../../src/ports/object-store.js';
import {
  splitInOrder,
  VALIDATE_BYTES_PER_THREAD,
  validateThreads,
} from '../../src/stages/validate.js';
import { rowsByPartition, startTestRuntime } from '../helpers/local.js';

/**
 * validate splits an entity's rows into key buckets and validates them on every thread. Whatever
 * the thread and bucket counts, every duplicate must meet the row it duplicates (exact copies
 * dropped, conflicting keys rejected, the first in file order kept), parents must be found across
 * buckets, and held rows released by a later batch: same counts, same rows. The data is made here, so every expected
 * count is known without running the code.
 */
const dir = mkdtempSync(join(tmpdir(), 'validate-shards-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PRODUCTS = 20;
const ORDERS = 300;
const ITEMS = 900;
const csv = (header: string, rows: string[]) => [header, ...rows].join('\n') + '\n';
const day = (i: number) =>
  `2025-03-${String((i % 28) + 1).padStart(2, '0')}T10:${String(i % 60).padStart(2, '0')}:00`;

const productRows = Array.from(
  { length: PRODUCTS },
  (_, i) => `${i + 1},SKU-${i},10.5,${['Jeans', 'Tops', 'Socks'][i % 3]},Item ${i},Brand,20,Women`,
);
const orderRow = (id: number | string, status = 'delivered', created = day(Number(id))) =>
  `${id},${1000 + Number(id)},${status},${created},,${created},${created},3`;
const itemRow = (id: number, order: number | string, price = '12.50') =>
  `${id},${order},${1000 + Number(order)},${(id % PRODUCTS) + 1},delivered,${day(Number(order))},,,,${price}`;

const ordersHeader =
  'order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item';
const itemsHeader =
  'id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price';

/** First batch: everything valid once, then copies and conflicts in a second file each. */
function firstBatch(): LocalFile[] {
  const orders = Array.from({ length: ORDERS }, (_, i) => orderRow(i + 1));
  const items = Array.from({ length: ITEMS }, (_, i) => itemRow(i + 1, (i % ORDERS) + 1));
  const ordersExtra = [
    ...orders.slice(10, 15), // 5 exact copies: dropped
    orderRow('020', 'returned'), // the same key written differently: duplicate_key
    orderRow('21', 'returned'),
    orderRow(' 22', 'cancelled'),
    orderRow(23, 'shipped'),
    orderRow(9001, 'delivered', 'not a time'), // 3 invalid_timestamp
    orderRow(9002, 'delivered', '2025-02-30T10:00:00'),
    orderRow(9003, 'delivered', 'yesterday'),
  ];
  const itemsExtra = [
    ...items.slice(100, 106), // 6 exact copies: dropped
    ...[200, 201, 202, 203, 204].map((id) => itemRow(id, ((id - 1) % ORDERS) + 1, '99.99')), // 5 conflicts
    ...[5001, 5002, 5003, 5004].map((id) => itemRow(id, 7777)), // order 7777 not yet there: held
    itemRow(5005, 1, '-3'), // below_minimum:sale_price
  ];
  const files: [string, string][] = [
    ['products.csv', csv('id,sku,cost,category,name,brand,retail_price,department', productRows)],
    ['orders_part1.csv', csv(ordersHeader, orders)],
    ['orders_part2.csv', csv(ordersHeader, ordersExtra)],
    ['order_items_part1.csv', csv(itemsHeader, items)],
    ['order_items_part2.csv', csv(itemsHeader, itemsExtra)],
  ];
  return write('first', files);
}

/**
 * Second batch: the missing order arrives, releasing the held items but one, which the batch
 * re-sends for another order (its new row wins); one order re-sent.
 */
function secondBatch(): LocalFile[] {
  return write('second', [
    ['orders_late.csv', csv(ordersHeader, [orderRow(7777), orderRow(5, 'returned')])],
    ['order_items_late.csv', csv(itemsHeader, [itemRow(5002, 8)])],
  ]);
}

function write(batch: string, files: [string, string][]): LocalFile[] {
  return files.map(([name, text]) => {
    const path = join(dir, `${batch}-${name}`);
    writeFileSync(path, text);
    return { path, name };
  });
}

interface Outcome {
  counts: Record<string, EntityCounts>[];
  rows: Record<string, string[]>;
  validatedParts: string[];
}

/** `bucketBytes`: small enough, every entity is split into many key buckets. */
async function runBoth(workers: number, bucketBytes?: number): Promise<Outcome> {
  const t = await startTestRuntime();
  try {
    const counts: Record<string, EntityCounts>[] = [];
    const batches: [string, LocalFile[], Date][] = [
      ['first', firstBatch(), new Date(Date.UTC(2025, 3, 1))],
      ['second', secondBatch(), new Date(Date.UTC(2025, 3, 2))],
    ];
    for (const [name, files, createdAt] of batches) {
      const runId = await t.createRun('thelook', name, files, createdAt);
      const reports = await t.runStages(runId, undefined, {
        CARTPIPE_WORKERS: workers,
        ...(bucketBytes ? { CARTPIPE_VALIDATE_BUCKET_BYTES: bucketBytes } : {}),
      });
      expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
      counts.push(reports[1]!.entities!);
    }
    const validatedParts = (await listAll(t.store, 'validated/')).map((o) => o.key);
    return { counts, rows: await rowsByPartition(t.store), validatedParts };
  } finally {
    await t.stop();
  }
}

describe('validate on one, two and three threads, in one key bucket or many', () => {
  const outcomes = new Map<number, Outcome>();
  const bucketed = new Map<number, Outcome>();
  beforeAll(async () => {
    for (const workers of [1, 2, 3]) outcomes.set(workers, await runBoth(workers));
    // A few hundred bytes of raw Parquet a bucket: a dozen buckets an entity or more.
    for (const workers of [1, 2]) bucketed.set(workers, await runBoth(workers, 400));
  });

  it('counts every row of the first batch as made: dropped, rejected, held, valid', () => {
    const [first] = outcomes.get(1)!.counts;
    expect(first!.orders).toMatchObject({
      rowsIn: ORDERS + 12,
      valid: ORDERS,
      duplicatesDropped: 5,
      rejected: 7,
      held: 0,
      rejectsByReason: { duplicate_key: 4, 'invalid_timestamp:created_at': 3 },
    });
    expect(first!.order_items).toMatchObject({
      rowsIn: ITEMS + 16,
      valid: ITEMS,
      duplicatesDropped: 6,
      rejected: 6,
      held: 4,
      rejectsByReason: { duplicate_key: 5, 'below_minimum:sale_price': 1 },
    });
  });

  it('releases the held items when their order arrives in the next batch, unless re-sent', () => {
    const [, second] = outcomes.get(1)!.counts;
    expect(second!.orders).toMatchObject({ rowsIn: 2, valid: 2, rejected: 0 });
    expect(second!.order_items).toMatchObject({ rowsIn: 1, valid: 1, released: 3 });
  });

  it.each([1, 2])('on %i threads and many key buckets: the same counts and rows', (workers) => {
    const one = outcomes.get(1)!;
    const many = bucketed.get(workers)!;
    expect(many.counts).toEqual(one.counts);
    expect(many.rows).toEqual(one.rows);
  });

  it.each([2, 3])('on %i threads: the same counts and the same rows as on one', (workers) => {
    const one = outcomes.get(1)!;
    const many = outcomes.get(workers)!;
    expect(many.counts).toEqual(one.counts);
    expect(many.rows).toEqual(one.rows);
  });

  it.each([2, 3])('on %i threads the rows really are split: a part per thread', (workers) => {
    const piecesSeen = new Set(
      outcomes
        .get(workers)!
        .validatedParts.filter((k) => k.includes('/order_items/'))
        .map((k) => /part-(\d+)-\d+\.parquet$/.exec(k)![1]),
    );
    // Threads 0..workers-1, plus the released rows' own parts (numbered after the threads').
    expect(piecesSeen.size).toBe(workers + 1);
  });
});

describe('splitInOrder', () => {
  const parts = (...sizes: number[]) =>
    sizes.map((size, i) => ({ key: `p${i}`, size, etag: `"e${i}"` }));

  it('gives each piece a run of consecutive parts of about equal bytes', () => {
    // upload's raw parts of one input file: full ones, then the file's remainder.
    const orders = parts(119, 76, 119, 76, 119, 76, 119, 77);
    expect(splitInOrder(orders, 2)).toEqual([
      ['p0', 'p1', 'p2', 'p3'],
      ['p4', 'p5', 'p6', 'p7'],
    ]);
    const pieces = splitInOrder(parts(5, 1, 1, 1, 1, 1), 2);
    expect(pieces.flat()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    expect(pieces).toEqual([['p0'], ['p1', 'p2', 'p3', 'p4', 'p5']]);
  });

  it('keeps every part once and in order, with no more pieces than parts', () => {
    expect(splitInOrder(parts(10), 2)).toEqual([['p0']]);
    expect(splitInOrder(parts(3, 3, 3), 1)).toEqual([['p0', 'p1', 'p2']]);
    expect(splitInOrder(parts(0, 0, 0, 0), 2).flat()).toEqual(['p0', 'p1', 'p2', 'p3']);
    const many = parts(...Array.from({ length: 37 }, (_, i) => 1 + ((i * 7) % 11)));
    const split = splitInOrder(many, 4);
    expect(split).toHaveLength(4);
    expect(split.flat()).toEqual(many.map((p) => p.key));
  });
});

describe('validateThreads', () => {
  const MB = 1024 * 1024;

  it('sizes "one per CPU" (0) by the batch: a daily batch gets one thread, a large one every CPU', () => {
    expect(validateThreads(0, 100_000, 4)).toBe(1); // a day of a small shop
    expect(validateThreads(0, 0, 4)).toBe(1);
    expect(validateThreads(0, VALIDATE_BYTES_PER_THREAD + 1, 4)).toBe(2);
    expect(validateThreads(0, 3 * VALIDATE_BYTES_PER_THREAD, 4)).toBe(3);
    expect(validateThreads(0, 500 * MB, 4)).toBe(4);
    expect(validateThreads(0, 500 * MB, 2)).toBe(2);
  });

  it('keeps a number set in CARTPIPE_WORKERS whatever the batch, and one thread when unset', () => {
    expect(validateThreads(3, 10, 2)).toBe(3);
    expect(validateThreads(1, 500 * MB, 8)).toBe(1);
    expect(validateThreads(undefined, 500 * MB, 8)).toBe(1);
  });
});
