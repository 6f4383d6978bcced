/**
 * `clickstream`: display-ad impressions in the Taobao raw_sample shape (user, time_stamp in epoch
 * seconds, adgroup_id, pid, nonclk, clk), renamed on read to user_id, event_time,
 * product_category and product_name. One row is one impression; clk = 1 when it was clicked, and
 * nonclk is its complement (a row where they disagree is rejected).
 *
 * Its KPIs are configured, not fixed: each aggregation of aggregations.ts becomes a KPI of the
 * same name (kpis/clickstream/<name>/), with impressions, clicks and CTR per period and group.
 * Rows are stored under the period's first day in the aggregation's zone (period_date: the day,
 * the ISO week's Monday, the month's first day); `period_start` gives the period's first instant
 * in that zone with its offset, and identifies the hour in hourly aggregations.
 */
import type { ColumnDef } from '../../formats/parquet.js';
import type { KpiRow } from '../../ports/kpi-store.js';
import { parseEpochSeconds, parseIsoTimestamp, periodOf, zonedIso } from '../time.js';
import type {
  ColumnSpec,
  EntitySpec,
  KpiInput,
  KpiPeriod,
  KpiSpec,
  KpiWindow,
  Parsed,
  Profile,
} from '../types.js';
import { aggregationsFor, loadAggregations, type Aggregation } from './aggregations.js';

/** Epoch seconds (the source's form); ISO-8601 accepted too, for re-exported files. */
function parseEventTime(text: string, context: { timeZone: string }): Parsed {
  const ms = parseEpochSeconds(text) ?? parseIsoTimestamp(text, context.timeZone);
  return ms === undefined ? { ok: false, reason: 'invalid_timestamp' } : { ok: true, value: ms };
}

export const clicks = {
  name: 'clicks',
  // The profile's only entity: every data file of a batch is clicks.
  file: /\.(csv|tsv|tab|txt|json|ndjson|jsonl|xlsx)$/i,
  renames: {
    user: 'user_id',
    time_stamp: 'event_time',
    adgroup_id: 'product_category',
    pid: 'product_name',
  },
  dateColumn: 'event_time',
  columns: [
    { name: 'user_id', type: 'string', required: true },
    { name: 'event_time', type: 'timestamp', required: true, parse: parseEventTime },
    { name: 'product_category', type: 'string', required: true },
    { name: 'product_name', type: 'string', required: true },
    { name: 'nonclk', type: 'int', required: true, min: 0 },
    { name: 'clk', type: 'int', required: true, min: 0 },
  ] satisfies ColumnSpec[],
  rules: (row) =>
    (row.clk === 0 || row.clk === 1) && row.nonclk === 1 - (row.clk as number)
      ? []
      : ['inconsistent_click_flags'],
} as const satisfies EntitySpec;

/** A KPI spec that carries the aggregation it computes. */
export interface AggregationKpi extends KpiSpec {
  aggregation: Aggregation;
}

const isAggregationKpi = (kpi: KpiSpec): kpi is AggregationKpi => 'aggregation' in kpi;

/** The KPI of one aggregation: its table's columns, stored dates and group columns. */
export function aggregationKpi(aggregation: Aggregation): AggregationKpi {
  const hourly = aggregation.period === 'hour';
  const columns: ColumnDef[] = [
    { name: 'period_date', type: 'string' },
    { name: 'period_start', type: 'string' },
    ...aggregation.groupBy.map((name) => ({ name, type: 'string' as const })),
    { name: 'impressions', type: 'int' },
    { name: 'clicks', type: 'int' },
    { name: 'ctr', type: 'float' },
  ];
  const by = aggregation.groupBy.length ? ` by ${aggregation.groupBy.join(', ')}` : '';
  return {
    name: aggregation.name,
    description: `impressions, clicks and CTR per ${aggregation.period}${by} (${aggregation.timeZone ?? 'pipeline zone'})`,
    dateColumn: 'period_date',
    groupBy: hourly ? ['period_start', ...aggregation.groupBy] : [...aggregation.groupBy],
    columns,
    // Hours are stored per day, keyed by their start.
    period: (hourly ? 'day' : aggregation.period) as KpiPeriod,
    ...(aggregation.timeZone ? { timeZone: aggregation.timeZone } : {}),
    aggregation,
  };
}

interface Counts {
  periodStart: string;
  groups: (string | null)[];
  impressions: number;
  clicks: number;
}

async function computeWindow(
  input: KpiInput,
  window: KpiWindow,
): Promise<Record<string, KpiRow[]>> {
  const kpis = window.kpis.filter(isAggregationKpi);
  const counts = kpis.map(() => new Map<string, Counts>());
  const windowStart = zonedIso(window.start, window.timeZone);
  // Zone offsets and their changes fall on quarter hours, so every instant of a UTC quarter hour
  // is in the same local hour: one zone lookup per quarter hour, not per row.
  const hourStarts = new Map<number, string>();
  const hourStartOf = (at: number): string => {
    const slot = Math.floor(at / 900_000);
    let text = hourStarts.get(slot);
    if (text === undefined) {
      text = zonedIso(periodOf(at, 'hour', window.timeZone).start, window.timeZone);
      hourStarts.set(slot, text);
    }
    return text;
  };
  for (const date of window.dates) {
    const rows = await input.rows(clicks.name, date);
    const times = rows.event_time!;
    for (let i = 0; i < times.length; i++) {
      const at = times[i] as number;
      if (at < window.start || at >= window.end) continue;
      const clicked = rows.clk![i] as number;
      kpis.forEach((kpi, k) => {
        const { groupBy, period } = kpi.aggregation;
        const periodStart = period === 'hour' ? hourStartOf(at) : windowStart;
        const groups = groupBy.map((c) => rows[c]![i] as string | null);
        const id = JSON.stringify([periodStart, ...groups]);
        let c = counts[k]!.get(id);
        if (!c) {
          c = { periodStart, groups, impressions: 0, clicks: 0 };
          counts[k]!.set(id, c);
        }
        c.impressions += 1;
        c.clicks += clicked;
      });
    }
  }
  const out: Record<string, KpiRow[]> = {};
  kpis.forEach((kpi, k) => {
    out[kpi.name] = [...counts[k]!.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, c]) => ({
        period_date: window.date,
        period_start: c.periodStart,
        ...Object.fromEntries(kpi.aggregation.groupBy.map((g, j) => [g, c.groups[j] ?? null])),
        impressions: c.impressions,
        clicks: c.clicks,
        ctr: c.clicks / c.impressions,
      }));
  });
  return out;
}

export const clickstream: Profile = {
  name: 'clickstream',
  description: 'Taobao display-ad impressions and clicks, with configurable aggregations',
  entities: [clicks],
  /** The shipped default aggregations (config/clickstream.aggregations.json). */
  get kpis(): readonly KpiSpec[] {
    return loadAggregations().map(aggregationKpi);
  },
  kpisFor: (options, settings) =>
    aggregationsFor(options, settings.aggregationsFile).map(aggregationKpi),
  computeKpis: (input, _date, window) => computeWindow(input, window),
};
