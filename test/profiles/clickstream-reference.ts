/**
 * Independent reference for clickstream's aggregations: DuckDB's ICU time zones and ISO weeks
 * over the raw Taobao-layout rows (sharing no code with the profile): impressions, clicks and CTR
 * per period start in the aggregation's zone and its group columns.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';
import type { Aggregation } from '../../src/profiles/clickstream/aggregations.js';
import { query } from './duckdb.js';

/** Offsets of the zones the references use (neither has had DST since 1991). */
const OFFSET: Record<string, string> = { UTC: '+00:00', 'Asia/Shanghai': '+08:00' };

/**
 * @param source a relation (table, view or `read_csv(...)`) with the raw layout's columns as text:
 *   user, time_stamp (epoch seconds), adgroup_id, pid, clk; only valid, distinct rows.
 */
export async function clickstreamKpi(
  db: DuckDBConnection,
  source: string,
  a: Aggregation,
): Promise<Record<string, Value>[]> {
  const zone = a.timeZone ?? 'UTC';
  const offset = OFFSET[zone];
  if (offset === undefined) throw new Error(`no fixed offset known for ${zone}`);
  const unit = a.period === 'hour' ? 'hour' : a.period;
  const groups = a.groupBy.map((c) => `${c}, `).join('');
  return query(
    db,
    `with c as (
       select "user" as user_id, adgroup_id as product_category, pid as product_name, clk::bigint as clk,
              date_trunc('${unit}', timezone('${zone}', to_timestamp(time_stamp::bigint))) as start
       from ${source})
     select strftime(start, '%Y-%m-%d') as period_date,
            strftime(start, '%Y-%m-%dT%H:%M:%S') || '${offset}' as period_start, ${groups}
            count(*)::bigint as impressions, sum(clk)::bigint as clicks, sum(clk) / count(*) as ctr
     from c group by all`,
  );
}
