/**
 * Independent reference for the rees46 KPIs: DuckDB SQL over the raw CSVs, from the definitions
 * in DESIGN.md and the profile's documented join rule (sharing no code with it): exact duplicate
 * events count once; an item's attribute is its last non-empty value in file order; an event's
 * own attribute wins over the item's; orders are sessions with a purchase; the funnel rates are
 * shares of sessions (viewed and carted / viewed, carted and bought / carted, viewed and bought /
 * viewed); a missing session is the user's session of the day.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';
import { duckdb, query } from './duckdb.js';

type Rows = Record<string, Value>[];

/**
 * @param eventsGlob CSV file(s) of events (6-column split form or 9-column Kaggle form)
 * @param itemsPath item attributes CSV, or undefined when the events carry their attributes
 */
export async function rees46Kpis(
  eventsGlob: string,
  itemsPath?: string,
): Promise<{ daily: Rows; brand_daily: Rows; category_daily: Rows; db: DuckDBConnection }> {
  const db = await duckdb();
  await db.run(`
    create table raw_events as
      select row_number() over () as rn, *
      from read_csv('${eventsGlob}', header = true, all_varchar = true, union_by_name = true);
  `);
  const columns = (
    await query(
      db,
      `select column_name from information_schema.columns where table_name = 'raw_events' and column_name <> 'rn'`,
    )
  ).map((r) => r.column_name as string);
  await db.run(`
    create table events as
      select * from raw_events qualify row_number() over (partition by ${columns.join(', ')} order by rn) = 1;
  `);
  const hasOwnAttributes = columns.includes('brand');
  await db.run(
    itemsPath
      ? `create table items as
           select product_id,
                  arg_max(category_id, rn) filter (where category_id is not null) as category_id,
                  arg_max(category_code, rn) filter (where category_code is not null) as category_code,
                  arg_max(brand, rn) filter (where brand is not null) as brand
           from (select row_number() over () as rn, * from read_csv('${itemsPath}', header = true, all_varchar = true))
           group by product_id`
      : `create table items (product_id varchar, category_id varchar, category_code varchar, brand varchar)`,
  );
  const own = (c: string) => (hasOwnAttributes ? `e.${c}` : 'null');
  await db.run(`
    create view e as
      select strftime(strptime(e.event_time, '%Y-%m-%d %H:%M:%S UTC'), '%Y-%m-%d') as event_date,
             e.event_type, e.price::decimal(18, 4) as price,
             coalesce(e.user_session,
                      'user:' || e.user_id || ':' || strftime(strptime(e.event_time, '%Y-%m-%d %H:%M:%S UTC'), '%Y-%m-%d')) as sess,
             coalesce(${own('brand')}, i.brand, 'unknown') as brand,
             coalesce(${own('category_id')}, i.category_id, 'unknown') as category_id,
             coalesce(${own('category_code')}, i.category_code) as category_code
      from events e left join items i on i.product_id = e.product_id;
  `);
  const kpi = (groups: string[]) => {
    const g = groups.length ? `${groups.join(', ')}, ` : '';
    const on = ['event_date', ...groups]
      .map((c) => `m.${c} is not distinct from f.${c}`)
      .join(' and ');
    return query(
      db,
      `with m as (
         select ${g}event_date,
                count(*) filter (where event_type = 'view')::bigint as views,
                count(*) filter (where event_type = 'cart')::bigint as carts,
                count(*) filter (where event_type = 'remove_from_cart')::bigint as removals,
                count(*) filter (where event_type = 'purchase')::bigint as purchases,
                coalesce(sum(price) filter (where event_type = 'purchase'), 0)::double as revenue,
                count(distinct sess) filter (where event_type = 'purchase')::bigint as orders,
                (sum(price) filter (where event_type = 'purchase')
                  / nullif(count(distinct sess) filter (where event_type = 'purchase'), 0))::double as avg_order_value,
                count(distinct sess)::bigint as sessions
         from e group by all),
       s as (
         select ${g}event_date, sess, bool_or(event_type = 'view') as v, bool_or(event_type = 'cart') as c,
                bool_or(event_type = 'purchase') as p
         from e group by all),
       f as (
         select ${g}event_date,
                (count(*) filter (where v and c))::double / nullif(count(*) filter (where v), 0) as view_to_cart_rate,
                (count(*) filter (where c and p))::double / nullif(count(*) filter (where c), 0) as cart_to_purchase_rate,
                (count(*) filter (where v and p))::double / nullif(count(*) filter (where v), 0) as view_to_purchase_rate
         from s group by all)
       select m.*, f.view_to_cart_rate, f.cart_to_purchase_rate, f.view_to_purchase_rate
       from m join f on ${on}`,
    );
  };
  return {
    daily: await kpi([]),
    brand_daily: await kpi(['brand']),
    category_daily: await kpi(['category_id', 'category_code']),
    db,
  };
}
