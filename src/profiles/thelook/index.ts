/**
 * `thelook`: products, orders and order_items CSVs of the event-driven e-commerce lab.
 * Columns come in a different order per file (mapped by header). Timestamps are naive and read
 * in the configured zone. An item counts on its order's date, so items take their partition date
 * from their order; an item whose order or product has not arrived yet is held.
 */
import type { ColumnDef, Columns } from '../../formats/parquet.js';
import type { KpiRow } from '../../ports/kpi-store.js';
import { KeyTable } from '../../stages/key-table.js';
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

interface CategoryAccumulator {
  revenue: number;
  net: number;
  items: number;
  /** Order ids as sets (values unused): typed arrays, not Sets of a day's orders. */
  orders: KeyTable;
  returnedOrders: KeyTable;
}

/**
 * One order date's KPIs, folded from its orders and then its items a row group at a time: what it
 * keeps is per order (typed-array id sets) and per category, never the day's rows.
 */
class DayTotals {
  private readonly orders = new KeyTable();
  private readonly customers = new KeyTable();
  private returned = 0;
  private revenue = 0;
  private net = 0;
  private items = 0;
  private readonly categories = new Map<string, CategoryAccumulator>();

  constructor(
    private readonly date: string,
    private readonly categoryOf: Map<number, string>,
  ) {}

  /** The day's orders (latest versions; each order once). All of them before any item. */
  addOrders(rows: Columns): void {
    const ids = rows.order_id as number[];
    const statuses = rows.status as string[];
    const users = rows.user_id as number[];
    for (let i = 0; i < ids.length; i++) {
      this.orders.set(ids[i]!, 1);
      this.customers.set(users[i]!, 1);
      if (statuses[i] === 'returned') this.returned += 1;
    }
  }

  addItems(rows: Columns): void {
    const itemOrder = rows.order_id as number[];
    const prices = rows.sale_price as number[];
    const statuses = rows.status as string[];
    const productIds = rows.product_id as number[];
    for (let i = 0; i < itemOrder.length; i++) {
      const orderId = itemOrder[i]!;
      if (!this.orders.has(orderId)) continue; // the order moved to another date in a later batch
      const price = toCents(prices[i]!);
      const isReturned = statuses[i] === 'returned';
      this.revenue += price;
      if (!isReturned) this.net += price;
      this.items += 1;
      const category = this.categoryOf.get(productIds[i]!) ?? 'unknown';
      let acc = this.categories.get(category);
      if (!acc) {
        acc = {
          revenue: 0,
          net: 0,
          items: 0,
          orders: new KeyTable(),
          returnedOrders: new KeyTable(),
        };
        this.categories.set(category, acc);
      }
      acc.revenue += price;
      if (!isReturned) acc.net += price;
      else acc.returnedOrders.set(orderId, 1);
      acc.items += 1;
      acc.orders.set(orderId, 1);
    }
  }

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
    const categoryDaily: KpiRow[] = [...this.categories.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([category, acc]) => ({
        category,
        order_date: date,
        daily_revenue: fromCents(acc.revenue),
        net_revenue: fromCents(acc.net),
        orders: acc.orders.size,
        items: acc.items,
        // An average, not a sum of money: kept unrounded (rounding ties would depend on the reader).
        avg_order_value: fromCents(acc.revenue) / acc.orders.size,
        avg_return_rate: acc.returnedOrders.size / acc.orders.size,
      }));
    return { daily, categoryDaily };
  }
}

/**
 * Product id -> category, made once per catalogue read: the reader hands every day of a run the
 * same catalogue rows while its parts are unchanged.
 */
const categoryMaps = new WeakMap<Columns, Map<number, string>>();
function categoriesOf(productRows: Columns): Map<number, string> {
  let categoryOf = categoryMaps.get(productRows);
  if (!categoryOf) {
    categoryOf = new Map();
    const ids = productRows.id as number[];
    for (let i = 0; i < ids.length; i++)
      categoryOf.set(ids[i]!, productRows.category![i] as string);
    categoryMaps.set(productRows, categoryOf);
  }
  return categoryOf;
}

export const thelook: Profile = {
  name: 'thelook',
  description: 'TheLook-style shop: products, orders, order_items',
  entities: [products, orders, orderItems],
  kpis: [DAILY_KPI, CATEGORY_DAILY_KPI],
  async computeKpis(input: KpiInput, date: string) {
    const catalogue = await input.rows('products', undefined, ['id', 'category']);
    const day = new DayTotals(date, categoriesOf(catalogue));
    // Orders first: an item counts only if its order is on this date.
    for await (const rows of input.batches('orders', date, ['order_id', 'status', 'user_id']))
      day.addOrders(rows);
    const itemColumns = ['order_id', 'sale_price', 'status', 'product_id'];
    for await (const rows of input.batches('order_items', date, itemColumns)) day.addItems(rows);
    const { daily, categoryDaily } = day.kpis();
    return { [DAILY_KPI.name]: daily, [CATEGORY_DAILY_KPI.name]: categoryDaily };
  },
};
