/**
 * The benchmark's correctness check: KPI rows and validation counts of the pipeline against
 * DuckDB's. Sums of money must match to the cent, averages of money within a cent (a value on
 * a half-cent may round either way), rates within 1e-6, counts and keys exactly.
 */

type Kind = 'count' | 'money' | 'average' | 'rate';
export interface KpiCheck {
  key: readonly string[];
  columns: Readonly<Record<string, Kind>>;
}

export const KPI_CHECKS: Readonly<Record<string, KpiCheck>> = {
  daily: {
    key: ['order_date'],
    columns: {
      total_orders: 'count',
      total_revenue: 'money',
      net_revenue: 'money',
      total_items_sold: 'count',
      return_rate: 'rate',
      unique_customers: 'count',
    },
  },
  category_daily: {
    key: ['category', 'order_date'],
    columns: {
      daily_revenue: 'money',
      net_revenue: 'money',
      orders: 'count',
      items: 'count',
      avg_order_value: 'average',
      avg_return_rate: 'rate',
    },
  },
};

const TOLERANCE: Record<Kind, number> = {
  count: 0,
  money: 0.005,
  average: 0.01 + 1e-9,
  rate: 1e-6,
};

export type Row = Readonly<Record<string, unknown>>;

export interface Comparison {
  name: string;
  rows: number;
  referenceRows: number;
  mismatchCount: number;
  /** The first few differences, for a person to read. */
  mismatches: string[];
}

const MAX_LISTED = 10;

/**
 * Compares KPI rows with reference rows by key.
 * @example
 * compareKpiRows('daily', ours, duck).mismatchCount === 0
 */
export function compareKpiRows(
  kpi: string,
  rows: readonly Row[],
  reference: readonly Row[],
): Comparison {
  const check = KPI_CHECKS[kpi];
  if (!check) throw new Error(`no KPI check for ${kpi}`);
  const keyOf = (r: Row) => check.key.map((k) => String(r[k])).join(' / ');
  const expected = new Map(reference.map((r) => [keyOf(r), r]));
  const mismatches: string[] = [];
  let count = 0;
  const note = (text: string) => {
    count += 1;
    if (mismatches.length < MAX_LISTED) mismatches.push(text);
  };
  const seen = new Set<string>();
  for (const row of rows) {
    const key = keyOf(row);
    if (seen.has(key)) note(`${kpi} ${key}: row appears twice`);
    seen.add(key);
    const ref = expected.get(key);
    if (!ref) {
      note(`${kpi} ${key}: not in the reference`);
      continue;
    }
    for (const [column, kind] of Object.entries(check.columns)) {
      const a = Number(row[column]);
      const b = Number(ref[column]);
      if (!Number.isFinite(a) || !Number.isFinite(b) || Math.abs(a - b) > TOLERANCE[kind]) {
        note(`${kpi} ${key}: ${column} ${String(row[column])} vs reference ${String(ref[column])}`);
      }
    }
  }
  for (const key of expected.keys()) if (!seen.has(key)) note(`${kpi} ${key}: missing`);
  return {
    name: kpi,
    rows: rows.length,
    referenceRows: reference.length,
    mismatchCount: count,
    mismatches,
  };
}

/**
 * Compares rows with reference rows matched by `keys`: every reference column must be equal,
 * numbers within `tolerance` relative (float sums differ in the last bits between engines).
 */
export function compareRowsByKey(
  name: string,
  rows: readonly Row[],
  reference: readonly Row[],
  keys: readonly string[],
  tolerance = 1e-9,
): Comparison {
  const keyOf = (r: Row) => JSON.stringify(keys.map((k) => r[k] ?? null));
  const ours = new Map<string, Row>();
  const mismatches: string[] = [];
  let count = 0;
  const note = (text: string) => {
    count += 1;
    if (mismatches.length < MAX_LISTED) mismatches.push(`${name} ${text}`);
  };
  for (const row of rows) {
    const key = keyOf(row);
    if (ours.has(key)) note(`${key}: row appears twice`);
    ours.set(key, row);
  }
  for (const want of reference) {
    const key = keyOf(want);
    const row = ours.get(key);
    if (!row) {
      note(`${key}: missing`);
      continue;
    }
    ours.delete(key);
    for (const [column, value] of Object.entries(want)) {
      const have = row[column] ?? null;
      const same =
        typeof value === 'number' && typeof have === 'number'
          ? Math.abs(value - have) <= tolerance * Math.max(1, Math.abs(value))
          : value === have;
      if (!same) note(`${key}: ${column} ${String(have)} vs reference ${String(value)}`);
    }
  }
  for (const key of ours.keys()) note(`${key}: not in the reference`);
  return {
    name,
    rows: rows.length,
    referenceRows: reference.length,
    mismatchCount: count,
    mismatches,
  };
}

export interface Counts {
  rowsIn: number;
  valid: number;
  rejected: number;
  duplicatesDropped: number;
  held: number;
  rejectsByReason: Record<string, number>;
}

/** Compares validate's per-entity counts (and reject reasons) with the reference's. */
export function compareCounts(
  counts: Readonly<Record<string, Counts>>,
  reference: Readonly<Record<string, Counts>>,
): Comparison {
  const mismatches: string[] = [];
  const entities = new Set([...Object.keys(counts), ...Object.keys(reference)]);
  for (const entity of entities) {
    const a = counts[entity];
    const b = reference[entity];
    if (!a || !b) {
      mismatches.push(`${entity}: only in ${a ? 'ours' : 'the reference'}`);
      continue;
    }
    for (const field of ['rowsIn', 'valid', 'rejected', 'duplicatesDropped', 'held'] as const) {
      if (a[field] !== b[field])
        mismatches.push(`${entity}.${field}: ${a[field]} vs reference ${b[field]}`);
    }
    const reasons = new Set([...Object.keys(a.rejectsByReason), ...Object.keys(b.rejectsByReason)]);
    for (const reason of reasons) {
      const x = a.rejectsByReason[reason] ?? 0;
      const y = b.rejectsByReason[reason] ?? 0;
      if (x !== y) mismatches.push(`${entity} rejected for ${reason}: ${x} vs reference ${y}`);
    }
  }
  return {
    name: 'validate counts',
    rows: entities.size,
    referenceRows: entities.size,
    mismatchCount: mismatches.length,
    mismatches: mismatches.slice(0, MAX_LISTED),
  };
}
