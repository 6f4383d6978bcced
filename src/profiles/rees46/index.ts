/**
 * `rees46`: the REES46 cosmetics-shop event log (view, cart, remove_from_cart, purchase). Two
 * shapes are accepted: the Kaggle original, whose events carry category_id, category_code and
 * brand, and the split form (customer/data_YYYY_mon.csv with the events, item/item.csv with the
 * product attributes), whose events are joined to the items by product_id when KPIs are
 * computed. event_time ends in " UTC"; category_id is a 19-digit id kept as exact text.
 *
 * Item rows repeat a product (the split files list it once per month, some copies with empty
 * attributes, some with a newer category). They are all kept in validated/, and merged per
 * product with one rule: later rows win, emptiness never erases. Per attribute, the value is the
 * last non-empty one in arrival order (load time, then file, then row), so a later batch's
 * attributes replace an earlier batch's, and an empty cell never blanks a known brand. An event's
 * own attribute (Kaggle shape) takes precedence over the item file's.
 *
 * KPIs per day, per brand and day, and per category and day: event counts, revenue (price of
 * purchase events), orders (sessions with a purchase), average order value, and a session funnel
 * view -> cart -> purchase.
 */
import type { ColumnDef, Columns } from '../../formats/parquet.js';
import type { KpiRow } from '../../ports/kpi-store.js';
import type {
  ColumnSpec,
  EntitySpec,
  KpiInput,
  KpiSpec,
  KpiWindow,
  Parsed,
  Profile,
} from '../types.js';

export const EVENT_TYPES = ['view', 'cart', 'remove_from_cart', 'purchase'] as const;
/** The group of events whose product has no brand or category. */
export const UNKNOWN = 'unknown';

/** Category ids are up to 20 decimal digits: text, never a number (a double would round them). */
function parseCategoryId(text: string): Parsed {
  const t = text.trim();
  return /^\d{1,20}$/.test(t)
    ? { ok: true, value: t }
    : { ok: false, reason: 'invalid_category_id' };
}

const DATA_FILE = '\\.(csv|tsv|tab|txt|json|ndjson|jsonl|xlsx)$';
const attributes: ColumnSpec[] = [
  { name: 'category_id', type: 'string', parse: parseCategoryId, inHeader: false },
  { name: 'category_code', type: 'string', inHeader: false },
  { name: 'brand', type: 'string', inHeader: false },
];

export const events = {
  name: 'events',
  // Kaggle: 2019-Oct.csv; split form: data_2022_oct.csv; or anything named events*.
  file: new RegExp(`^(\\d{4}-[a-z]{3}|data_\\d{4}_[a-z]{3}|events?)([._-].*)?${DATA_FILE}`, 'i'),
  dateColumn: 'event_time',
  columns: [
    { name: 'event_time', type: 'timestamp', required: true },
    { name: 'event_type', type: 'string', required: true, enum: EVENT_TYPES },
    { name: 'product_id', type: 'int', required: true, min: 0 },
    ...attributes,
    { name: 'price', type: 'float', required: true, min: 0 },
    { name: 'user_id', type: 'int', required: true, min: 0 },
    { name: 'user_session', type: 'string' },
  ] satisfies ColumnSpec[],
} as const satisfies EntitySpec;

export const items = {
  name: 'items',
  file: new RegExp(`^items?([._-].*)?${DATA_FILE}`, 'i'),
  columns: [
    { name: 'product_id', type: 'int', required: true, min: 0 },
    ...attributes.map((a) => ({ ...a, inHeader: true })),
  ] satisfies ColumnSpec[],
} as const satisfies EntitySpec;

const string = (name: string): ColumnDef => ({ name, type: 'string' });
const int = (name: string): ColumnDef => ({ name, type: 'int' });
const float = (name: string): ColumnDef => ({ name, type: 'float' });
const METRICS: ColumnDef[] = [
  int('views'),
  int('carts'),
  int('removals'),
  int('purchases'),
  float('revenue'),
  int('orders'),
  float('avg_order_value'),
  int('sessions'),
  float('view_to_cart_rate'),
  float('cart_to_purchase_rate'),
  float('view_to_purchase_rate'),
];

export const DAILY_KPI = {
  name: 'daily',
  description: 'events, revenue, orders and session funnel per day',
  dateColumn: 'event_date',
  groupBy: [],
  columns: [string('event_date'), ...METRICS],
} as const satisfies KpiSpec;

export const BRAND_DAILY_KPI = {
  name: 'brand_daily',
  description: 'the daily KPIs per brand',
  dateColumn: 'event_date',
  groupBy: ['brand'],
  columns: [string('brand'), string('event_date'), ...METRICS],
} as const satisfies KpiSpec;

export const CATEGORY_DAILY_KPI = {
  name: 'category_daily',
  description: 'the daily KPIs per category (id as exact text, with its code)',
  dateColumn: 'event_date',
  groupBy: ['category_id', 'category_code'],
  columns: [string('category_id'), string('category_code'), string('event_date'), ...METRICS],
} as const satisfies KpiSpec;

export const REES46_KPIS: readonly KpiSpec[] = [DAILY_KPI, BRAND_DAILY_KPI, CATEGORY_DAILY_KPI];

interface ItemAttributes {
  category_id: string | null;
  category_code: string | null;
  brand: string | null;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Product attributes by product_id: per attribute, the last non-empty value in arrival order. */
export function mergeItems(rows: Columns): Map<number, ItemAttributes> {
  const n = rows.product_id!.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) =>
      (rows._loaded_at![a] as number) - (rows._loaded_at![b] as number) ||
      compare(rows._run_id![a] as string, rows._run_id![b] as string) ||
      compare((rows._source_file![a] as string) ?? '', (rows._source_file![b] as string) ?? '') ||
      (rows._source_row![a] as number) - (rows._source_row![b] as number),
  );
  const merged = new Map<number, ItemAttributes>();
  for (const i of order) {
    const id = rows.product_id![i] as number;
    let item = merged.get(id);
    if (!item) {
      item = { category_id: null, category_code: null, brand: null };
      merged.set(id, item);
    }
    for (const key of ['category_id', 'category_code', 'brand'] as const) {
      const value = rows[key]![i] as string | null;
      if (value !== null) item[key] = value;
    }
  }
  return merged;
}

/**
 * mergeItems of the catalogue rows a thread's windows share: the reader's cache of undated rows
 * hands every window of a run the same object while the catalogue's parts stay the same, and
 * merging the catalogue once a window was a third of compute-kpi's time (2M events over 121
 * days, 110k items: 3.2 s of sorting and merging, 9 s in all, one core).
 */
const mergedCatalogues = new WeakMap<Columns, Map<number, ItemAttributes>>();

function mergedItemsOf(rows: Columns): Map<number, ItemAttributes> {
  let merged = mergedCatalogues.get(rows);
  if (!merged) mergedCatalogues.set(rows, (merged = mergeItems(rows)));
  return merged;
}

/** Event counts, revenue and the session funnel of one group. */
class Funnel {
  views = 0;
  carts = 0;
  removals = 0;
  purchases = 0;
  /** Revenue in 1/10,000 units: exact for prices with up to four decimals. */
  units = 0;
  readonly sessions = new Set<string>();
  readonly viewed = new Set<string>();
  readonly carted = new Set<string>();
  readonly bought = new Set<string>();

  add(type: string, price: number, session: string): void {
    this.sessions.add(session);
    if (type === 'view') {
      this.views += 1;
      this.viewed.add(session);
    } else if (type === 'cart') {
      this.carts += 1;
      this.carted.add(session);
    } else if (type === 'remove_from_cart') {
      this.removals += 1;
    } else if (type === 'purchase') {
      this.purchases += 1;
      this.units += Math.round(price * 10_000);
      this.bought.add(session);
    }
  }

  row(): KpiRow {
    const both = (a: Set<string>, b: Set<string>) => {
      let n = 0;
      for (const s of a) if (b.has(s)) n += 1;
      return n;
    };
    const rate = (part: number, whole: number) => (whole === 0 ? null : part / whole);
    const revenue = this.units / 10_000;
    return {
      views: this.views,
      carts: this.carts,
      removals: this.removals,
      purchases: this.purchases,
      revenue,
      orders: this.bought.size,
      avg_order_value: rate(revenue, this.bought.size),
      sessions: this.sessions.size,
      view_to_cart_rate: rate(both(this.viewed, this.carted), this.viewed.size),
      cart_to_purchase_rate: rate(both(this.carted, this.bought), this.carted.size),
      view_to_purchase_rate: rate(both(this.viewed, this.bought), this.viewed.size),
    };
  }
}

/** The events' columns the KPIs read. */
const EVENT_COLUMNS_READ = [
  'event_time',
  'event_type',
  'product_id',
  'price',
  'user_id',
  'user_session',
  'brand',
  'category_id',
  'category_code',
];

async function computeDay(input: KpiInput, window: KpiWindow): Promise<Record<string, KpiRow[]>> {
  // A page at a time, and without the lineage columns: the funnel's counts and sets do not depend
  // on the rows' order. Every date's events are asked for before the catalogue is awaited, so
  // their listings and first parts are on their way meanwhile (the catalogue comes with the
  // window's turn at folding, and asked for after it, the events' round trips were the turn's).
  const eventsByDate = window.dates.map((day) => ({
    day,
    batches: input.batches(events.name, day, EVENT_COLUMNS_READ),
  }));
  const itemsById = mergedItemsOf(await input.rows(items.name));
  const all = new Funnel();
  const brands = new Map<string, Funnel>();
  const categories = new Map<string, { id: string; code: string | null; funnel: Funnel }>();
  const date = window.date;
  for (const { day, batches } of eventsByDate) {
    for await (const rows of batches) {
      for (let i = 0; i < rows.event_time!.length; i++) {
        const at = rows.event_time![i] as number;
        if (at < window.start || at >= window.end) continue;
        const type = rows.event_type![i] as string;
        const price = rows.price![i] as number;
        const item = itemsById.get(rows.product_id![i] as number);
        // A purchase without a session is one of the user's "session" of the day.
        const session =
          (rows.user_session![i] as string | null) ?? `user:${rows.user_id![i] as number}:${day}`;
        const brand = (rows.brand![i] as string | null) ?? item?.brand ?? UNKNOWN;
        const categoryId = (rows.category_id![i] as string | null) ?? item?.category_id ?? UNKNOWN;
        const categoryCode =
          (rows.category_code![i] as string | null) ?? item?.category_code ?? null;
        all.add(type, price, session);
        let byBrand = brands.get(brand);
        if (!byBrand) brands.set(brand, (byBrand = new Funnel()));
        byBrand.add(type, price, session);
        const categoryKey = `${categoryId}\u0001${categoryCode ?? ''}`;
        let byCategory = categories.get(categoryKey);
        if (!byCategory) {
          byCategory = { id: categoryId, code: categoryCode, funnel: new Funnel() };
          categories.set(categoryKey, byCategory);
        }
        byCategory.funnel.add(type, price, session);
      }
    }
  }
  return {
    [DAILY_KPI.name]: all.sessions.size === 0 ? [] : [{ event_date: date, ...all.row() }],
    [BRAND_DAILY_KPI.name]: [...brands.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([brand, f]) => ({ brand, event_date: date, ...f.row() })),
    [CATEGORY_DAILY_KPI.name]: [...categories.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([, c]) => ({
        category_id: c.id,
        category_code: c.code,
        event_date: date,
        ...c.funnel.row(),
      })),
  };
}

export const rees46: Profile = {
  name: 'rees46',
  description: 'REES46 cosmetics shop: events, joined to item attributes by product_id',
  entities: [events, items],
  kpis: REES46_KPIS,
  computeKpis: (input, _date, window) => computeDay(input, window),
};
