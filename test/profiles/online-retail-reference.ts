/**
 * Independent reference for the online-retail KPIs: DuckDB SQL over the raw CSV, written from
 * the definitions in DESIGN.md and the issue (sharing no code with the profile): exact duplicate
 * lines count once; a sale line is one of a non-'C', non-'A' invoice with quantity > 0, price > 0
 * and a product stock code; revenue = quantity x unit price; top lists rank by the measure, ties
 * by the key.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';
import { duckdb, query } from './duckdb.js';

export type Rows = Record<string, Value>[];

const NOT_PRODUCTS = `('POST', 'DOT', 'M', 'D', 'C2', 'S', 'BANK CHARGES', 'AMAZONFEE', 'CRUK', 'B')`;
const METRICS = `sum(amount)::double as revenue, count(distinct inv)::bigint as invoices,
  (sum(amount) / count(distinct inv))::double as avg_invoice_value, sum(q)::bigint as quantity,
  count(*)::bigint as lines, count(distinct cust)::bigint as customers`;

/** Loads the CSV (UTF-8) into views `lines` (first copy of each exact duplicate) and `sales`. */
export async function loadOnlineRetail(csvPath: string): Promise<DuckDBConnection> {
  const db = await duckdb();
  await db.run(`
    create table raw as
      select row_number() over () as rn, *
      from read_csv('${csvPath}', header = true, all_varchar = true, delim = ',', quote = '"');
    create table distinct_lines as
      select * from raw
      qualify row_number() over (
        partition by InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
        order by rn) = 1;
    create view lines as
      select rn, InvoiceNo as inv, StockCode as sc, Description as descr, Quantity::bigint as q,
             UnitPrice::decimal(18, 4) as p, strptime(InvoiceDate, '%m/%d/%Y %H:%M') as ts,
             CustomerID as cust, Country as country
      from distinct_lines;
    create view sales as
      select *, q * p as amount, strftime(ts, '%Y-%m-01') as month_start from lines
      where upper(inv) not like 'C%' and upper(inv) not like 'A%' and q > 0 and p > 0
        and upper(sc) not in ${NOT_PRODUCTS} and not starts_with(upper(sc), 'GIFT_');
  `);
  return db;
}

export interface OnlineRetailReference {
  sales_hourly: Rows;
  sales_daily: Rows;
  sales_monthly: Rows;
  sales_yearly: Rows;
  country_monthly: Rows;
  top_products_monthly: Rows;
  top_customers_monthly: Rows;
  top_invoices_monthly: Rows;
}

export async function onlineRetailKpis(db: DuckDBConnection): Promise<OnlineRetailReference> {
  const q = (sql: string) => query(db, sql);
  const ranked = (order: string, from: string) => `
    select * from (select row_number() over (partition by month_start order by ${order})::bigint as rank, * from ${from})
    where rank <= 10`;
  return {
    sales_hourly: await q(
      `select strftime(ts, '%Y-%m-%d') as invoice_date, hour(ts)::bigint as hour, ${METRICS} from sales group by all`,
    ),
    sales_daily: await q(
      `select strftime(ts, '%Y-%m-%d') as invoice_date, ${METRICS} from sales group by all`,
    ),
    sales_monthly: await q(`select month_start, ${METRICS} from sales group by all`),
    sales_yearly: await q(
      `select strftime(ts, '%Y-01-01') as year_start, ${METRICS} from sales group by all`,
    ),
    country_monthly: await q(
      `select month_start, coalesce(country, '(none)') as country, ${METRICS} from sales group by all`,
    ),
    top_products_monthly: await q(`
      with per_product as (
        select month_start, sc, sum(q)::bigint as quantity, sum(amount) as exact_revenue,
               count(distinct inv)::bigint as invoices
        from sales group by all),
      descriptions as (
        select month_start, sc, first(descr order by n desc, descr) as description
        from (select month_start, sc, descr, count(*) as n from sales where descr is not null group by all)
        group by all),
      products as (select * from per_product left join descriptions using (month_start, sc))
      select month_start, 'quantity' as ranking, rank, sc as stock_code, description, quantity,
             exact_revenue::double as revenue, invoices
      from (${ranked('quantity desc, sc', 'products')})
      union all
      select month_start, 'revenue' as ranking, rank, sc as stock_code, description, quantity,
             exact_revenue::double as revenue, invoices
      from (${ranked('exact_revenue desc, sc', 'products')})`),
    top_customers_monthly: await q(`
      select month_start, rank, cust as customer_id, exact_revenue::double as revenue, invoices, quantity
       from (${ranked(
         'exact_revenue desc, cust',
         `(select month_start, cust, sum(amount) as exact_revenue, count(distinct inv)::bigint as invoices,
                 sum(q)::bigint as quantity
          from sales where cust is not null group by all)`,
       )})`),
    top_invoices_monthly: await q(`
      select month_start, rank, inv as invoice_no, customer_id, country, exact_revenue::double as revenue,
             quantity, lines
       from (${ranked(
         'exact_revenue desc, inv',
         `(select month_start, inv, any_value(cust) as customer_id, any_value(country) as country,
                 sum(amount) as exact_revenue, sum(q)::bigint as quantity, count(*)::bigint as lines
          from sales group by all)`,
       )})`),
  };
}
