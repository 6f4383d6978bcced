import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { expandPaths } from '../../src/cli/submit.js';
import { listAll } from '../../src/ports/object-store.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';

const SAMPLE = join(DATASETS, 'thelook-lab');

/** Reading the job's Parquet with DuckDB, an independent reader, against DuckDB's reading of the CSVs. */
describe('Parquet written by the jobs, read back by DuckDB', () => {
  let t: TestRuntime;
  let db: DuckDBConnection;
  const local = mkdtempSync(join(tmpdir(), 'parquet-readback-'));
  beforeAll(async () => {
    t = await startTestRuntime();
    await t.load('thelook', 'readback', expandPaths([SAMPLE]));
    // Copy every Parquet object out of the local S3 server into a folder DuckDB can glob.
    for (const o of await listAll(t.store, '')) {
      if (!o.key.endsWith('.parquet')) continue;
      const path = join(local, o.key);
      await import('node:fs').then((fs) => fs.mkdirSync(join(path, '..'), { recursive: true }));
      writeFileSync(path, await t.store.get(o.key));
    }
    db = await (await DuckDBInstance.create(':memory:')).connect();
  });
  afterAll(async () => t.stop());

  const one = async (sql: string) => (await db.runAndReadAll(sql)).getRowObjectsJS()[0]!;
  /** A two-column query's rows as one object: first column -> second. */
  const pairs = async (sql: string) =>
    Object.fromEntries((await db.runAndReadAll(sql)).getRows().map(([k, v]) => [String(k), v]));
  const validatedItems = () => `${local}/validated/thelook/order_items/*/*/*.parquet`;

  it('keeps the types: integer ids, timestamps, doubles, strings', async () => {
    const typeOf = await pairs(
      `select column_name, column_type from (describe select * from read_parquet('${validatedItems()}'))`,
    );
    expect(typeOf).toMatchObject({
      id: 'BIGINT',
      order_id: 'BIGINT',
      product_id: 'BIGINT',
      status: 'VARCHAR',
      created_at: 'TIMESTAMP WITH TIME ZONE',
      returned_at: 'TIMESTAMP WITH TIME ZONE',
      sale_price: 'DOUBLE',
      _run_id: 'VARCHAR',
      _source_row: 'BIGINT',
    });
  });

  it('has every row, value and null of the CSVs', async () => {
    const parquet = await one(`
      select count(*) as n, sum(sale_price) as revenue, count(returned_at) as returned_set, count(distinct status) as statuses,
             min(created_at) as first, max(created_at) as last, sum(id) as ids
      from read_parquet('${local}/validated/thelook/order_items/*/*/*.parquet')`);
    await db.run(`set timezone = 'UTC'`);
    const csv = await one(`
      select count(*) as n, sum(sale_price) as revenue, count(returned_at) as returned_set, count(distinct status) as statuses,
             min(created_at::timestamp)::timestamptz as first, max(created_at::timestamp)::timestamptz as last, sum(id) as ids
      from read_csv('${SAMPLE}/order_items/*.csv', header = true)`);
    expect(parquet.n).toBe(27_007n);
    expect(parquet.n).toEqual(csv.n);
    expect(parquet.ids).toEqual(csv.ids);
    expect(parquet.returned_set).toEqual(csv.returned_set);
    expect(parquet.statuses).toEqual(csv.statuses);
    expect(Math.abs((parquet.revenue as number) - (csv.revenue as number))).toBeLessThan(1e-6);
    expect(String(parquet.first)).toBe(String(csv.first));
    expect(String(parquet.last)).toBe(String(csv.last));
  });

  it('marks the columns validation guarantees (required ones, lineage) REQUIRED, the others OPTIONAL', async () => {
    const repetition = await pairs(
      `select distinct name, repetition_type from parquet_schema('${validatedItems()}') where num_children is null`,
    );
    // orderItems' spec: id, order_id, product_id, status and sale_price are required.
    expect(repetition).toEqual({
      id: 'REQUIRED',
      order_id: 'REQUIRED',
      user_id: 'OPTIONAL',
      product_id: 'REQUIRED',
      status: 'REQUIRED',
      created_at: 'OPTIONAL',
      shipped_at: 'OPTIONAL',
      delivered_at: 'OPTIONAL',
      returned_at: 'OPTIONAL',
      sale_price: 'REQUIRED',
      _run_id: 'REQUIRED',
      _loaded_at: 'REQUIRED',
      _source_file: 'REQUIRED',
      _source_row: 'REQUIRED',
    });
  });

  it('partitions validated rows by their order date, and items sit with their order', async () => {
    const misplaced = await one(`
      with i as (select order_id, regexp_extract(filename, 'date=([0-9-]+)', 1) as d from read_parquet('${local}/validated/thelook/order_items/*/*/*.parquet', filename = true)),
           o as (select order_id, regexp_extract(filename, 'date=([0-9-]+)', 1) as d, strftime(created_at at time zone 'UTC', '%Y-%m-%d') as created from read_parquet('${local}/validated/thelook/orders/*/*/*.parquet', filename = true))
      select count(*) filter (where i.d <> o.d) as items_elsewhere, (select count(*) from o where d <> created) as orders_elsewhere
      from i join o using (order_id)`);
    expect(misplaced).toEqual({ items_elsewhere: 0n, orders_elsewhere: 0n });
  });

  it('writes the raw strings as read and the KPI Parquet Athena will query', async () => {
    const raw = await one(
      `select count(*) as n, count(*) filter (where _problem is null) as clean from read_parquet('${local}/raw/thelook/order_items/*/*.parquet')`,
    );
    expect(raw).toEqual({ n: 27_007n, clean: 27_007n });
    const kpi = await one(
      `select count(*) as n, sum(total_orders) as orders from read_parquet('${local}/kpis/thelook/daily/*/*.parquet')`,
    );
    expect(kpi).toEqual({ n: 31n, orders: 9_000n });
  });
});
