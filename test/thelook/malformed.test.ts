import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferOf, readParquet, type Columns } from '../../src/formats/parquet.js';
import { listAll } from '../../src/ports/object-store.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

const PRODUCTS =
  'id,sku,cost,category,name,brand,retail_price,department\n1,A-1,2.5,Beauty,Soap,Acme,5.0,Care\n2,B-2,3,Books,Novel,Globex,9.5,Media\n';
const ORDERS_HEADER =
  'order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item';
const ITEMS_HEADER =
  'id,order_id,user_id,product_id,status,created_at,shipped_at,delivered_at,returned_at,sale_price';

function files(contents: Record<string, string | Buffer>) {
  const dir = mkdtempSync(join(tmpdir(), 'thelook-bad-'));
  return Object.entries(contents).map(([name, body]) => {
    writeFileSync(join(dir, name), body);
    return { path: join(dir, name), name };
  });
}

async function rejectedRows(t: TestRuntime, entity: string, runId: string): Promise<Columns> {
  const out: Columns = {};
  for (const o of await listAll(t.store, `rejected/thelook/${entity}/run=${runId}/`)) {
    for await (const cols of readParquet(bufferOf(await t.store.get(o.key)))) {
      for (const [k, v] of Object.entries(cols)) (out[k] ??= []).push(...v);
    }
  }
  return out;
}

describe('thelook malformed input', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => t.stop());

  it('rejects bad rows with reason codes naming file, row and rule, and reconciles every count', async () => {
    const input = files({
      'products.csv': PRODUCTS,
      'orders.csv': [
        ORDERS_HEADER,
        '1,10,delivered,2025-03-01T10:00:00,,,,1',
        '2,11,Shipped,2025-03-01T11:00:00,,,,1', // enum compared case-insensitively
        '3,12,lost,2025-03-01T12:00:00,,,,1', // unknown status
        '4,13,delivered,2025-02-30T12:00:00,,,,1', // no such date
        '5,14,delivered,yesterday,,,,1', // not a timestamp
        'x6,15,delivered,2025-03-01T12:00:00,,,,1', // id not an integer
        '7,16,delivered,2025-03-02T09:00:00,,,,1,extra', // ragged
        '1,10,delivered,2025-03-01T10:00:00,,,,1', // exact duplicate of row 1
        '2,99,returned,2025-03-01T11:00:00,,,,1', // same key, other content
        ',17,delivered,2025-03-02T09:00:00,,,,1', // key missing
      ].join('\n'),
      'order_items.csv': [
        ITEMS_HEADER,
        '1,1,10,1,delivered,,,,,10.50',
        '2,1,10,2,delivered,,,,,-1', // negative price
        '3,2,11,1,returned,,,,,', // price missing
        '4,999,11,1,delivered,,,,,3', // order not arrived: held
        '5,2,11,777,delivered,,,,,3', // product not arrived: held
        '6,3,12,1,delivered,,,,,3', // its order was rejected: held until a valid order 3 arrives
      ].join('\n'),
    });
    const runId = await t.createRun('thelook', 'bad-rows', input);
    const reports = await t.runStages(runId);
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const { orders, order_items: items } = reports[1]!.entities!;
    expect(orders).toMatchObject({
      rowsIn: 10,
      valid: 2,
      rejected: 7,
      duplicatesDropped: 1,
      held: 0,
    });
    expect(orders!.rejectsByReason).toEqual({
      'not_in_enum:status': 1,
      'invalid_timestamp:created_at': 2,
      'invalid_integer:order_id': 1,
      ragged_row: 1,
      duplicate_key: 1,
      'missing_value:order_id': 1,
    });
    expect(items).toMatchObject({
      rowsIn: 6,
      valid: 1,
      rejected: 2,
      held: 3,
      duplicatesDropped: 0,
    });
    expect(items!.rejectsByReason).toEqual({
      'below_minimum:sale_price': 1,
      'missing_value:sale_price': 1,
    });
    for (const c of Object.values(reports[1]!.entities!)) {
      expect(c.valid + c.rejected + c.held + c.duplicatesDropped).toBe(c.rowsIn);
    }

    const rejected = await rejectedRows(t, 'orders', runId);
    const byRow = Object.fromEntries(
      rejected._source_row!.map((row, i) => [
        row,
        [rejected._source_file![i], rejected._reasons![i], rejected.status![i]],
      ]),
    );
    expect(byRow[3]).toEqual(['incoming/bad-rows/orders.csv', 'not_in_enum:status', 'lost']);
    expect(byRow[7]).toEqual(['incoming/bad-rows/orders.csv', 'ragged_row', 'delivered']);
    expect(byRow[9]![1]).toBe('duplicate_key');

    // Only the valid order's date was touched; the item's price counts once.
    const daily = await t.kpis.list('thelook', 'daily');
    expect(daily).toEqual([
      expect.objectContaining({
        order_date: '2025-03-01',
        total_orders: 2,
        total_revenue: 10.5,
        total_items_sold: 1,
      }),
    ]);
  });

  it.each([
    [
      'a file missing a column',
      { 'orders.csv': 'order_id,user_id,status\n1,2,delivered\n' },
      'missing_columns',
      'incoming/f1/orders.csv',
    ],
    ['an empty file', { 'orders.csv': '' }, 'empty_file', 'incoming/f2/orders.csv'],
    [
      'binary garbage',
      { 'orders.csv': Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0xff, 0xfe]) },
      'binary_file',
      'incoming/f3/orders.csv',
    ],
    ['a file no entity matches', { 'customers.csv': 'id\n1\n' }, 'unknown_entity', undefined],
  ])('fails the upload of %s with a clear, coded reason', async (_label, contents, code, file) => {
    const batch = file ? file.split('/')[1]! : 'f4';
    const runId = await t.createRun('thelook', batch, files(contents));
    const [upload] = await t.runStages(runId);
    expect(upload!.status).toBe('FAILED');
    expect(upload!.error!.code).toBe(code);
    if (file) {
      expect(upload!.error!.file).toBe(file);
      expect(upload!.error!.message).toContain(file);
    }
    expect(await listAll(t.store, `raw/thelook/orders/run=${runId}/`)).toEqual([]);
  });

  it('loads a semicolon-delimited file by detecting its delimiter', async () => {
    const runId = await t.createRun(
      'thelook',
      'semicolons',
      files({ 'products.csv': PRODUCTS.replace(/,/g, ';') }),
    );
    const reports = await t.runStages(runId);
    expect(reports[1]!.entities!.products).toMatchObject({ rowsIn: 2, valid: 2 });
  });

  it('fails validate when the reject ratio exceeds the threshold, and withdraws the valid output', async () => {
    const body = [
      ORDERS_HEADER,
      '50,1,delivered,2025-03-05T10:00:00,,,,1',
      ...Array.from({ length: 9 }, (_, i) => `${60 + i},1,bogus,2025-03-05T10:00:00,,,,1`),
    ].join('\n');
    const runId = await t.createRun('thelook', 'mostly-bad', files({ 'orders.csv': body }));
    const reports = await t.runStages(runId, undefined, { CARTPIPE_REJECT_THRESHOLD: 0.2 });
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(reports[1]!.error!.code).toBe('reject_ratio_exceeded');
    expect(reports[1]!.entities!.orders).toMatchObject({ rowsIn: 10, valid: 1, rejected: 9 });
    const validated = (await listAll(t.store, 'validated/thelook/orders/')).filter((o) =>
      o.key.includes(`run=${runId}`),
    );
    expect(validated).toEqual([]);
    expect((await listAll(t.store, `rejected/thelook/orders/run=${runId}/`)).length).toBe(1);
  });
});
