/**
 * `thelook`: products, orders and order_items CSVs of the event-driven e-commerce lab.
 * Columns come in a different order per file (mapped by header). Timestamps are naive and read
 * in the configured zone. An item counts on its order's date, so items take their partition date
 * from their order; an item whose order or product has not arrived yet is held.
 */
import type { ColumnDef, Columns } from '../../formats/parquet.js';
import type { KpiRow } from '../../ports/kpi-store.js';
import { KeySet } from '../../stages/key-table.js';
import type { ColumnSpec, KpiInput, Profile } from '../types.js';

export const ORDER_STATUSES = [
  'processing',
  'shipped',
  'delivered',
  'complete',
  'cancelled',
  'returned',
] as const;

const id = (name: string, required = true): ColumnSpec => ({ name, type: 'int', required, min: 0 });
const ts = (name: string, required = false): ColumnSpec => ({ name, type: 'timestamp', required });
const status: ColumnSpec = { name: 'status', type: 'string', required: true, enum: ORDER_STATUSES };

export const products = {
  name: 'products',
  file: /^products.*\.(csv|tsv|json|ndjson|jsonl|xlsx)$/i,
  key: ['id'],
  columns: [
    id('id'),
    { name: 'sku', type: 'string' },
    { name: 'cost', type: 'float', min: 0 },
    { name: 'category', type: 'string', required: true },
    { name: 'name', type: 'string' },
    { name: 'brand', type: 'string' },
    { name: 'retail_price', type: 'float', min: 0 },
    { name: 'department', type: 'string' },
  ],
} as const;

export const orders = {
  name: 'orders',
  file: /^orders.*\.(csv|tsv|json|ndjson|jsonl|xlsx)$/i,
  key: ['order_id'],
  dateColumn: 'created_at',
  columns: [
    id('order_id'),
    id('user_id'),
    status,
    ts('created_at', true),
    ts('returned_at'),
    ts('shipped_at'),
    ts('delivered_at'),
    { name: 'num_of_item', type: 'int', min: 0 },
  ],
} as const;

export const orderItems = {
  name: 'order_items',
  file: /^order_items.*\.(csv|tsv|json|ndjson|jsonl|xlsx)$/i,
  key: ['id'],
  parents: [
    { column: 'order_id', entity: 'orders', datesFromParent: true },
    { column: 'product_id', entity: 'products' },
  ],
  columns: [
    id('id'),
    id('order_id'),
    id('user_id', false),
    id('product_id'),
    status,
    ts('created_at'),
    ts('shipped_at'),
    ts('delivered_at'),
    ts('returned_at'),
    { name: 'sale_price', type: 'float', required: true, min: 0 },
  ],
} as const;

const money = (name: string): ColumnDef => ({ name, type: 'float' });
const count = (name: string): ColumnDef => ({ name, type: 'int' });

export const DAILY_KPI = {
  name: 'daily',
  description: 'order-level KPIs per order date',
  dateColumn: 'order_date',
  groupBy: [],
  columns: [
    { name: 'order_date', type: 'string' },
    count('total_orders'),
    money('total_revenue'),
    money('net_revenue'),
    count('total_items_sold'),
    { name: 'return_rate', type: 'float' },
    count('unique_customers'),
  ],
} as const;

export const CATEGORY_DAILY_KPI = {
  name: 'category_daily',
  description: 'category-level KPIs per category and order date',
  dateColumn: 'order_date',
  groupBy: ['category'],
  columns: [
    { name: 'category', type: 'string' },
    { name: 'order_date', type: 'string' },
    money('daily_revenue'),
    money('net_revenue'),
    count('orders'),
    count('items'),
    money('avg_order_value'),
    { name: 'avg_return_rate', type: 'float' },
  ],
} as const;

/** Money is summed in integer cents, so sums are exact whatever the order of addition. */
const toCents = (x: number): number => Math.round(x * 100);
const fromCents = (c: number): number => c / 100;

interface CategoryTotals {
  revenue: number;
  net: number;
  items: number;
  /** Distinct orders with an item of the category, and those with a returned one. */
  orders: number;
  returnedOrders: number;
}

/**
 * Id sets of this thread's days, emptied and reused: a day's sets grow to the day's orders, and
 * new ones per day were memory outside V8's heap left for a later collection.
 */
const idSets: KeySet[] = [];
const takeIdSet = (): KeySet => idSets.pop() ?? new KeySet();

/**
 * One order date's KPIs, folded from its orders and then its items a batch at a time: what it
 * keeps is per order (typed-array id sets) and per category, never the day's rows.
 */
class DayTotals {
  private readonly orders = takeIdSet();
  private readonly customers = takeIdSet();
  /** (order, category) pairs seen, and those with a returned item: one set each, not per category. */
  private readonly orderCategories = takeIdSet();
  private readonly returnedOrderCategories = takeIdSet();
  private returned = 0;
  private revenue = 0;
  private net = 0;
  private items = 0;
  private readonly categories: CategoryTotals[];

  constructor(
    private readonly date: string,
    private readonly catalogue: Catalogue,
  ) {
    this.categories = catalogue.names.map(() => ({
      revenue: 0,
      net: 0,
      items: 0,
      orders: 0,
      returnedOrders: 0,
    }));
  }

  /** The day's orders (latest versions; each order once). All of them before any item. */
  addOrders(rows: Columns): void {
    const ids = rows.order_id as number[];
    const statuses = rows.status as string[];
    const users = rows.user_id as number[];
    for (let i = 0; i < ids.length; i++) {
      this.orders.add(ids[i]!);
      this.customers.add(users[i]!);
      if (statuses[i] === 'returned') this.returned += 1;
    }
  }

  addItems(rows: Columns): void {
    const itemOrder = rows.order_id as number[];
    const prices = rows.sale_price as number[];
    const statuses = rows.status as string[];
    const productIds = rows.product_id as number[];
    const { catalogue } = this;
    for (let i = 0; i < itemOrder.length; i++) {
      const orderId = itemOrder[i]!;
      if (!this.orders.has(orderId)) continue; // the order moved to another date in a later batch
      const price = toCents(prices[i]!);
      const isReturned = statuses[i] === 'returned';
      this.revenue += price;
      if (!isReturned) this.net += price;
      this.items += 1;
      const category = catalogue.categoryOf(productIds[i]!);
      const totals = this.categories[category]!;
      totals.revenue += price;
      totals.items += 1;
      const pair = catalogue.pairKey(orderId, category);
      if (this.orderCategories.add(pair)) totals.orders += 1;
      if (!isReturned) totals.net += price;
      else if (this.returnedOrderCategories.add(pair)) totals.returnedOrders += 1;
    }
  }

  /** The day's KPI rows; the day's id sets go back to the thread for the next day. */
  kpis(): { daily: KpiRow[]; categoryDaily: KpiRow[] } {
    const { date } = this;
    const orders = this.orders.size;
    const daily: KpiRow[] =
      orders === 0
        ? []
        : [
            {
              order_date: date,
              total_orders: orders,
              total_revenue: fromCents(this.revenue),
              net_revenue: fromCents(this.net),
              total_items_sold: this.items,
              return_rate: this.returned / orders,
              unique_customers: this.customers.size,
            },
          ];
    const categoryDaily: KpiRow[] = this.catalogue.names
      .map((category, index) => ({ category, totals: this.categories[index]! }))
      .filter(({ totals }) => totals.items > 0)
      .sort(({ category: a }, { category: b }) => (a < b ? -1 : a > b ? 1 : 0))
      .map(({ category, totals }) => ({
        category,
        order_date: date,
        daily_revenue: fromCents(totals.revenue),
        net_revenue: fromCents(totals.net),
        orders: totals.orders,
        items: totals.items,
        // An average, not a sum of money: kept unrounded (rounding ties would depend on the reader).
        avg_order_value: fromCents(totals.revenue) / totals.orders,
        avg_return_rate: totals.returnedOrders / totals.orders,
      }));
    this.release();
    return { daily, categoryDaily };
  }

  private release(): void {
    for (const set of [
      this.orders,
      this.customers,
      this.orderCategories,
      this.returnedOrderCategories,
    ]) {
      set.clear();
      idSets.push(set);
    }
  }
}

/** The catalogue as a profile day needs it: each product's category as a small number. */
class Catalogue {
  /** Category names by number; the last is 'unknown', for items whose product is not listed. */
  readonly names: string[];
  private readonly byProduct = new Map<number, number>();
  private readonly dense: Int32Array | undefined;
  private readonly unknown: number;

  constructor(productRows: Columns) {
    const numbers = new Map<string, number>();
    const ids = productRows.id as number[];
    const categories = productRows.category as string[];
    for (let i = 0; i < ids.length; i++) {
      let n = numbers.get(categories[i]!);
      if (n === undefined) numbers.set(categories[i]!, (n = numbers.size));
      this.byProduct.set(ids[i]!, n);
    }
    if (!numbers.has('unknown')) numbers.set('unknown', numbers.size);
    this.unknown = numbers.get('unknown')!;
    this.names = [...numbers.keys()];
    // Ids that are small non-negative integers index an array: a Map lookup per item was a tenth
    // of compute-kpi's time on one core. Sparse or other ids keep the Map.
    let max = -1;
    for (const id of this.byProduct.keys()) {
      max = Number.isInteger(id) && id >= 0 ? Math.max(max, id) : Infinity;
    }
    if (max < 16 * ids.length + 1024) {
      this.dense = new Int32Array(max + 1).fill(-1);
      for (const [id, n] of this.byProduct) this.dense[id] = n;
    }
  }

  categoryOf(productId: number): number {
    const dense = this.dense;
    if (dense) {
      const n = dense[productId];
      return n === undefined || n < 0 ? this.unknown : n;
    }
    return this.byProduct.get(productId) ?? this.unknown;
  }

  /** One number per (order, category) while that stays exact; a string beyond. */
  pairKey(orderId: number, category: number): number | string {
    const key = orderId * this.names.length + category;
    return Number.isSafeInteger(key) ? key : `${orderId}|${category}`;
  }
}

/**
 * The catalogue's categories, made once per catalogue read: the reader hands every day of a run
 * the same catalogue rows while its parts are unchanged.
 */
const catalogues = new WeakMap<Columns, Catalogue>();
function catalogueOf(productRows: Columns): Catalogue {
  let catalogue = catalogues.get(productRows);
  if (!catalogue) {
    catalogue = new Catalogue(productRows);
    catalogues.set(productRows, catalogue);
  }
  return catalogue;
}

export const thelook: Profile = {
  name: 'thelook',
  description: 'TheLook-style shop: products, orders, order_items',
  entities: [products, orders, orderItems],
  kpis: [DAILY_KPI, CATEGORY_DAILY_KPI],
  async computeKpis(input: KpiInput, date: string) {
    // All three on their way at once (each read is a listing and GETs); folded in turn, orders
    // before items: an item counts only if its order is on this date.
    const catalogue = input.rows('products', undefined, ['id', 'category']);
    const orderBatches = input.batches('orders', date, ['order_id', 'status', 'user_id']);
    const itemColumns = ['order_id', 'sale_price', 'status', 'product_id'];
    const itemBatches = input.batches('order_items', date, itemColumns);
    const day = new DayTotals(date, catalogueOf(await catalogue));
    for await (const rows of orderBatches) day.addOrders(rows);
    for await (const rows of itemBatches) day.addItems(rows);
    const { daily, categoryDaily } = day.kpis();
    return { [DAILY_KPI.name]: daily, [CATEGORY_DAILY_KPI.name]: categoryDaily };
  },
};
