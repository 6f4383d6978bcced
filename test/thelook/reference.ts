/**
 * Independent reference for the thelook KPIs: DuckDB SQL over the raw CSV files, written from
 * DESIGN.md's definitions and sharing no code with the jobs.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';

export interface ReferenceKpis {
  daily: Record<string, Value>[];
  categoryDaily: Record<string, Value>[];
}

const csv = (glob: string) => `read_csv('${glob}', header = true, auto_detect = true)`;

export async function referenceKpis(dir: string): Promise<ReferenceKpis> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  await db.run(`
    create view o as select order_id, user_id, lower(status) as status, created_at::timestamp as created_at
      from ${csv(`${dir}/orders/*.csv`)};
    create view p as select id, category from ${csv(`${dir}/products.csv`)};
    create view i as select it.order_id, it.product_id, lower(it.status) as status, it.sale_price::double as sale_price,
        strftime(o.created_at, '%Y-%m-%d') as order_date
      from ${csv(`${dir}/order_items/*.csv`)} it join o using (order_id);
  `);
  const daily = await db.runAndReadAll(`
    with orders_by_day as (
      select strftime(created_at, '%Y-%m-%d') as order_date, count(distinct order_id) as total_orders,
             count(*) filter (where status = 'returned') as returned_orders,
             count(distinct user_id) as unique_customers
      from o group by 1),
    items_by_day as (
      select order_date, sum(sale_price) as total_revenue,
             coalesce(sum(sale_price) filter (where status <> 'returned'), 0) as net_revenue,
             count(*) as total_items_sold
      from i group by 1)
    select d.order_date, d.total_orders::integer as total_orders,
           round(coalesce(t.total_revenue, 0), 2) as total_revenue, round(coalesce(t.net_revenue, 0), 2) as net_revenue,
           coalesce(t.total_items_sold, 0)::integer as total_items_sold,
           d.returned_orders / d.total_orders as return_rate, d.unique_customers::integer as unique_customers
    from orders_by_day d left join items_by_day t using (order_date) order by 1`);
  const categoryDaily = await db.runAndReadAll(`
    select p.category, i.order_date,
           round(sum(sale_price), 2) as daily_revenue,
           round(coalesce(sum(sale_price) filter (where status <> 'returned'), 0), 2) as net_revenue,
           count(distinct order_id)::integer as orders, count(*)::integer as items,
           sum(sale_price) / count(distinct order_id) as avg_order_value,
           count(distinct order_id) filter (where status = 'returned') / count(distinct order_id) as avg_return_rate
    from i join p on p.id = i.product_id group by 1, 2 order by 2, 1`);
  const rows = (r: typeof daily) => r.getRowObjectsJS() as Record<string, Value>[];
  return { daily: rows(daily), categoryDaily: rows(categoryDaily) };
}

/** Asserts two KPI row lists are equal: money to the cent, rates to 1e-6, the rest exactly. */
export function expectKpisEqual(
  actual: Record<string, Value>[],
  expected: Record<string, Value>[],
  keys: string[],
): void {
  const index = (rows: Record<string, Value>[]) =>
    new Map(rows.map((r) => [keys.map((k) => r[k]).join('|'), r]));
  const a = index(actual);
  const e = index(expected);
  const problems: string[] = [];
  for (const k of e.keys()) if (!a.has(k)) problems.push(`missing row ${k}`);
  for (const k of a.keys()) if (!e.has(k)) problems.push(`unexpected row ${k}`);
  for (const [k, want] of e) {
    const got = a.get(k);
    if (!got) continue;
    for (const [column, value] of Object.entries(want)) {
      const g = got[column];
      const ok =
        typeof value === 'number' && typeof g === 'number'
          ? /rate|avg/.test(column)
            ? Math.abs(value - g) <= 1e-6
            : Math.abs(value - g) < 0.005
          : String(value) === String(g);
      if (!ok) problems.push(`${k} ${column}: got ${g}, expected ${value}`);
    }
  }
  if (problems.length > 0)
    throw new Error(`KPI mismatch (${problems.length}):\n  ${problems.slice(0, 20).join('\n  ')}`);
}
