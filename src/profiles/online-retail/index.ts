/**
 * `online-retail`: the UCI Online Retail transactions (one row per invoice line; CSV in UTF-8 or
 * latin-1, XLSX, JSON). Invoice numbers and stock codes stay strings ('C536379', '85123A').
 * Every parsed row is kept in validated/ with derived columns that classify it: the invoice kind
 * (sale, 'C' cancellation, 'A' adjustment) and flags for what keeps it out of the sales KPIs
 * (non-positive quantity or price, non-product stock codes such as POST or BANK CHARGES).
 * Rows without a CustomerID count in the totals and in no per-customer KPI. The table has no key:
 * exact duplicate lines of a batch are counted and dropped by validate.
 *
 * KPIs: sales (revenue = quantity x unit price over sale lines, invoices, average invoice value)
 * per hour, day, month and year; per country and month; the month's top products (by quantity
 * and by revenue), customers and invoices. A sink writes the purchase history (customer ->
 * invoices -> lines) of every touched date.
 */
import type { ColumnDef, Columns, Value } from '../../formats/parquet.js';
import type { Invoice, InvoiceKind } from '../../ports/history-store.js';
import type { KpiRow } from '../../ports/kpi-store.js';
import { parseIsoTimestamp, parseUsTimestamp, wallClock } from '../time.js';
import type {
  ColumnSpec,
  EntitySpec,
  KpiInput,
  KpiSpec,
  KpiWindow,
  Parsed,
  Profile,
  ProfileSink,
} from '../types.js';

/** Stock codes of postage, fees, manual entries and vouchers: not products (compared upper-cased). */
export const NON_PRODUCT_CODES: readonly string[] = [
  'POST',
  'DOT',
  'M',
  'D',
  'C2',
  'S',
  'BANK CHARGES',
  'AMAZONFEE',
  'CRUK',
  'B',
];
/** Gift vouchers (gift_0001_20, ...) are not products either. */
export const NON_PRODUCT_PREFIXES: readonly string[] = ['GIFT_'];
/** Length of the monthly top lists. */
export const TOP_N = 10;
/** country_monthly's group for lines without a country ("Unspecified" is a real value). */
export const NO_COUNTRY = '(none)';

const NON_PRODUCT = new Set(NON_PRODUCT_CODES);

/** 'C...' cancels an invoice, 'A...' adjusts bad debt, anything else is a sale. */
export function invoiceKind(invoiceNo: string): InvoiceKind {
  const first = invoiceNo.trim().charAt(0).toUpperCase();
  return first === 'C' ? 'cancellation' : first === 'A' ? 'adjustment' : 'sale';
}

/** false for postage, fees, manual entries and vouchers (see NON_PRODUCT_CODES), true otherwise. */
export function isProductCode(stockCode: string): boolean {
  const code = stockCode.trim().toUpperCase();
  return !NON_PRODUCT.has(code) && !NON_PRODUCT_PREFIXES.some((p) => code.startsWith(p));
}

/** Why a line is not a sale (empty: it is one): the flags column, comma-separated. */
export function lineFlags(row: Readonly<Record<string, Value>>): string[] {
  const flags: string[] = [];
  const kind = invoiceKind(String(row.invoice_no ?? ''));
  if (kind !== 'sale') flags.push(kind);
  if (typeof row.quantity !== 'number' || row.quantity <= 0) flags.push('non_positive_quantity');
  if (typeof row.unit_price !== 'number' || row.unit_price <= 0) flags.push('non_positive_price');
  if (!isProductCode(String(row.stock_code ?? ''))) flags.push('non_product_code');
  return flags;
}

const trimmed = (text: string): Parsed => ({ ok: true, value: text.trim() });

/** "M/D/YYYY H:MM" (the UCI/Kaggle form) or ISO-8601 (XLSX dates, JSON exports). */
function parseInvoiceDate(text: string, context: { timeZone: string }): Parsed {
  const ms = parseUsTimestamp(text, context.timeZone) ?? parseIsoTimestamp(text, context.timeZone);
  return ms === undefined ? { ok: false, reason: 'invalid_timestamp' } : { ok: true, value: ms };
}

/** Customer ids are integers, written "17850.0" by pandas re-exports: both mean 17850. */
function parseCustomerId(text: string): Parsed {
  const t = text.trim();
  const integer = /^(\d+)(?:\.0+)?$/.exec(t);
  return { ok: true, value: integer ? integer[1]! : t };
}

const source = (name: string, ...aliases: string[]) =>
  Object.fromEntries(aliases.map((a) => [a, name]));

export const transactions = {
  name: 'transactions',
  // The profile's only entity: every data file of a batch is transactions.
  file: /\.(csv|tsv|tab|txt|json|ndjson|jsonl|xlsx)$/i,
  dateColumn: 'invoice_date',
  // UCI / Kaggle headers, and those of UCI "Online Retail II" (Invoice, Price, Customer ID).
  renames: {
    ...source('invoice_no', 'InvoiceNo', 'Invoice'),
    ...source('stock_code', 'StockCode'),
    ...source('description', 'Description'),
    ...source('quantity', 'Quantity'),
    ...source('invoice_date', 'InvoiceDate'),
    ...source('unit_price', 'UnitPrice', 'Price'),
    ...source('customer_id', 'CustomerID', 'Customer ID'),
    ...source('country', 'Country'),
  },
  columns: [
    { name: 'invoice_no', type: 'string', required: true, parse: trimmed },
    { name: 'stock_code', type: 'string', required: true, parse: trimmed },
    { name: 'description', type: 'string' },
    { name: 'quantity', type: 'int', required: true },
    { name: 'invoice_date', type: 'timestamp', required: true, parse: parseInvoiceDate },
    { name: 'unit_price', type: 'float', required: true },
    { name: 'customer_id', type: 'string', parse: parseCustomerId },
    { name: 'country', type: 'string' },
    {
      name: 'invoice_kind',
      type: 'string',
      derive: (row) => invoiceKind(String(row.invoice_no)),
    },
    { name: 'is_product', type: 'bool', derive: (row) => isProductCode(String(row.stock_code)) },
    { name: 'flags', type: 'string', derive: (row) => lineFlags(row).join(',') || null },
    { name: 'in_sales', type: 'bool', derive: (row) => lineFlags(row).length === 0 },
  ] satisfies ColumnSpec[],
} as const satisfies EntitySpec;

const string = (name: string): ColumnDef => ({ name, type: 'string' });
const int = (name: string): ColumnDef => ({ name, type: 'int' });
const float = (name: string): ColumnDef => ({ name, type: 'float' });
const SALES_METRICS: ColumnDef[] = [
  float('revenue'),
  int('invoices'),
  float('avg_invoice_value'),
  int('quantity'),
  int('lines'),
  int('customers'),
];

export const SALES_HOURLY_KPI = {
  name: 'sales_hourly',
  description: 'sales per hour of the invoice date',
  dateColumn: 'invoice_date',
  groupBy: ['hour'],
  columns: [string('invoice_date'), int('hour'), ...SALES_METRICS],
} as const satisfies KpiSpec;

export const SALES_DAILY_KPI = {
  name: 'sales_daily',
  description: 'sales per invoice date',
  dateColumn: 'invoice_date',
  groupBy: [],
  columns: [string('invoice_date'), ...SALES_METRICS],
} as const satisfies KpiSpec;

export const SALES_MONTHLY_KPI = {
  name: 'sales_monthly',
  description: 'sales per month (stored under its first day)',
  dateColumn: 'month_start',
  groupBy: [],
  period: 'month',
  columns: [string('month_start'), ...SALES_METRICS],
} as const satisfies KpiSpec;

export const SALES_YEARLY_KPI = {
  name: 'sales_yearly',
  description: 'sales per year (stored under 1 January)',
  dateColumn: 'year_start',
  groupBy: [],
  period: 'year',
  columns: [string('year_start'), ...SALES_METRICS],
} as const satisfies KpiSpec;

export const COUNTRY_MONTHLY_KPI = {
  name: 'country_monthly',
  description: 'sales per country and month',
  dateColumn: 'month_start',
  groupBy: ['country'],
  period: 'month',
  columns: [string('month_start'), string('country'), ...SALES_METRICS],
} as const satisfies KpiSpec;

export const TOP_PRODUCTS_MONTHLY_KPI = {
  name: 'top_products_monthly',
  description: `the month's ${TOP_N} most sold (ranking=quantity) and most valuable (ranking=revenue) products`,
  dateColumn: 'month_start',
  groupBy: ['ranking', 'rank'],
  period: 'month',
  columns: [
    string('month_start'),
    string('ranking'),
    int('rank'),
    string('stock_code'),
    string('description'),
    int('quantity'),
    float('revenue'),
    int('invoices'),
  ],
} as const satisfies KpiSpec;

export const TOP_CUSTOMERS_MONTHLY_KPI = {
  name: 'top_customers_monthly',
  description: `the month's ${TOP_N} highest grossing customers (known CustomerID only)`,
  dateColumn: 'month_start',
  groupBy: ['rank'],
  period: 'month',
  columns: [
    string('month_start'),
    int('rank'),
    string('customer_id'),
    float('revenue'),
    int('invoices'),
    int('quantity'),
  ],
} as const satisfies KpiSpec;

export const TOP_INVOICES_MONTHLY_KPI = {
  name: 'top_invoices_monthly',
  description: `the month's ${TOP_N} highest invoices (revenue of their sale lines)`,
  dateColumn: 'month_start',
  groupBy: ['rank'],
  period: 'month',
  columns: [
    string('month_start'),
    int('rank'),
    string('invoice_no'),
    string('customer_id'),
    string('country'),
    float('revenue'),
    int('quantity'),
    int('lines'),
  ],
} as const satisfies KpiSpec;

export const ONLINE_RETAIL_KPIS: readonly KpiSpec[] = [
  SALES_HOURLY_KPI,
  SALES_DAILY_KPI,
  SALES_MONTHLY_KPI,
  SALES_YEARLY_KPI,
  COUNTRY_MONTHLY_KPI,
  TOP_PRODUCTS_MONTHLY_KPI,
  TOP_CUSTOMERS_MONTHLY_KPI,
  TOP_INVOICES_MONTHLY_KPI,
];

/**
 * Money is summed in integer units of 1/10,000: exact for prices with up to four decimals, so
 * the totals do not drift with the order of the additions (and match SQL DECIMAL sums).
 */
const UNITS = 10_000;
const toUnits = (quantity: number, price: number): number => Math.round(quantity * price * UNITS);
const fromUnits = (units: number): number => units / UNITS;

class SalesTotals {
  units = 0;
  quantity = 0;
  lines = 0;
  readonly invoices = new Set<string>();
  readonly customers = new Set<string>();
  add(line: SaleLine): void {
    this.units += line.units;
    this.quantity += line.quantity;
    this.lines += 1;
    this.invoices.add(line.invoice);
    if (line.customer !== null) this.customers.add(line.customer);
  }
  row(): KpiRow {
    const revenue = fromUnits(this.units);
    return {
      revenue,
      invoices: this.invoices.size,
      avg_invoice_value: this.invoices.size === 0 ? null : revenue / this.invoices.size,
      quantity: this.quantity,
      lines: this.lines,
      customers: this.customers.size,
    };
  }
}

interface SaleLine {
  invoice: string;
  stock: string;
  description: string | null;
  quantity: number;
  units: number;
  at: number;
  customer: string | null;
  country: string | null;
}

/** The columns {@link saleLines} reads. */
const SALE_LINE_COLUMNS = [
  'in_sales',
  'invoice_date',
  'quantity',
  'invoice_no',
  'stock_code',
  'description',
  'unit_price',
  'customer_id',
  'country',
];

/** The sale lines of a batch of validated rows that fall in [start, end). */
function* saleLines(rows: Columns, start: number, end: number): Generator<SaleLine> {
  const inSales = rows.in_sales!;
  for (let i = 0; i < inSales.length; i++) {
    if (inSales[i] !== true) continue;
    const at = rows.invoice_date![i] as number;
    if (at < start || at >= end) continue;
    const quantity = rows.quantity![i] as number;
    yield {
      invoice: rows.invoice_no![i] as string,
      stock: rows.stock_code![i] as string,
      description: rows.description![i] as string | null,
      quantity,
      units: toUnits(quantity, rows.unit_price![i] as number),
      at,
      customer: rows.customer_id![i] as string | null,
      country: rows.country![i] as string | null,
    };
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const getOr = <K, V>(map: Map<K, V>, key: K, make: () => V): V => {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
};

/** The most frequent of a product's descriptions; ties go to the alphabetically first. */
function usualDescription(counts: Map<string, number>): string | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [text, n] of counts) {
    if (n > bestCount || (n === bestCount && best !== null && text < best)) {
      best = text;
      bestCount = n;
    }
  }
  return best;
}

interface ProductTotals {
  quantity: number;
  units: number;
  invoices: Set<string>;
  descriptions: Map<string, number>;
}
interface PartyTotals {
  units: number;
  quantity: number;
  lines: number;
  invoices: Set<string>;
  country: string | null;
  customer: string | null;
}

/** Accumulates every KPI of a window over its sale lines, date partition by date partition. */
class WindowTotals {
  readonly all = new SalesTotals();
  readonly hours = new Map<number, SalesTotals>();
  readonly countries = new Map<string, SalesTotals>();
  readonly products = new Map<string, ProductTotals>();
  readonly customers = new Map<string, PartyTotals>();
  readonly invoices = new Map<string, PartyTotals>();

  constructor(
    private readonly timeZone: string,
    private readonly wanted: ReadonlySet<string>,
  ) {}

  add(line: SaleLine): void {
    this.all.add(line);
    if (this.wanted.has(SALES_HOURLY_KPI.name)) {
      getOr(this.hours, wallClock(line.at, this.timeZone).h, () => new SalesTotals()).add(line);
    }
    if (this.wanted.has(COUNTRY_MONTHLY_KPI.name)) {
      getOr(this.countries, line.country ?? NO_COUNTRY, () => new SalesTotals()).add(line);
    }
    if (this.wanted.has(TOP_PRODUCTS_MONTHLY_KPI.name)) {
      const p = getOr(this.products, line.stock, () => ({
        quantity: 0,
        units: 0,
        invoices: new Set<string>(),
        descriptions: new Map<string, number>(),
      }));
      p.quantity += line.quantity;
      p.units += line.units;
      p.invoices.add(line.invoice);
      if (line.description !== null) {
        p.descriptions.set(line.description, (p.descriptions.get(line.description) ?? 0) + 1);
      }
    }
    const party = (): PartyTotals => ({
      units: 0,
      quantity: 0,
      lines: 0,
      invoices: new Set<string>(),
      country: line.country,
      customer: line.customer,
    });
    const addTo = (t: PartyTotals) => {
      t.units += line.units;
      t.quantity += line.quantity;
      t.lines += 1;
      t.invoices.add(line.invoice);
    };
    if (this.wanted.has(TOP_CUSTOMERS_MONTHLY_KPI.name) && line.customer !== null) {
      addTo(getOr(this.customers, line.customer, party));
    }
    if (this.wanted.has(TOP_INVOICES_MONTHLY_KPI.name)) {
      addTo(getOr(this.invoices, line.invoice, party));
    }
  }
}

/** The first n entries by value descending, then key ascending (a stable, reproducible order). */
function top<T>(map: Map<string, T>, value: (t: T) => number, n: number): [string, T][] {
  return [...map.entries()]
    .sort(([ka, a], [kb, b]) => value(b) - value(a) || compare(ka, kb))
    .slice(0, n);
}

async function computeWindow(
  input: KpiInput,
  window: KpiWindow,
): Promise<Record<string, KpiRow[]>> {
  const wanted = new Set(window.kpis.map((k) => k.name));
  const totals = new WindowTotals(window.timeZone, wanted);
  // A page at a time, and only the columns a sale line takes: the totals do not depend on the
  // lines' order (ties go by key).
  for await (const rows of input.batches(transactions.name, window.dates, SALE_LINE_COLUMNS)) {
    for (const line of saleLines(rows, window.start, window.end)) totals.add(line);
  }
  const date = window.date;
  const out: Record<string, KpiRow[]> = {};
  const any = totals.all.lines > 0;
  if (wanted.has(SALES_DAILY_KPI.name)) {
    out[SALES_DAILY_KPI.name] = any ? [{ invoice_date: date, ...totals.all.row() }] : [];
  }
  if (wanted.has(SALES_HOURLY_KPI.name)) {
    out[SALES_HOURLY_KPI.name] = [...totals.hours.entries()]
      .sort(([a], [b]) => a - b)
      .map(([hour, t]) => ({ invoice_date: date, hour, ...t.row() }));
  }
  if (wanted.has(SALES_MONTHLY_KPI.name)) {
    out[SALES_MONTHLY_KPI.name] = any ? [{ month_start: date, ...totals.all.row() }] : [];
  }
  if (wanted.has(SALES_YEARLY_KPI.name)) {
    out[SALES_YEARLY_KPI.name] = any ? [{ year_start: date, ...totals.all.row() }] : [];
  }
  if (wanted.has(COUNTRY_MONTHLY_KPI.name)) {
    out[COUNTRY_MONTHLY_KPI.name] = [...totals.countries.entries()]
      .sort(([a], [b]) => compare(a, b))
      .map(([country, t]) => ({ month_start: date, country, ...t.row() }));
  }
  if (wanted.has(TOP_PRODUCTS_MONTHLY_KPI.name)) {
    const rows: KpiRow[] = [];
    for (const ranking of ['quantity', 'revenue'] as const) {
      const by =
        ranking === 'quantity' ? (p: ProductTotals) => p.quantity : (p: ProductTotals) => p.units;
      top(totals.products, by, TOP_N).forEach(([stock, p], i) =>
        rows.push({
          month_start: date,
          ranking,
          rank: i + 1,
          stock_code: stock,
          description: usualDescription(p.descriptions),
          quantity: p.quantity,
          revenue: fromUnits(p.units),
          invoices: p.invoices.size,
        }),
      );
    }
    out[TOP_PRODUCTS_MONTHLY_KPI.name] = rows;
  }
  if (wanted.has(TOP_CUSTOMERS_MONTHLY_KPI.name)) {
    out[TOP_CUSTOMERS_MONTHLY_KPI.name] = top(totals.customers, (c) => c.units, TOP_N).map(
      ([customer, c], i) => ({
        month_start: date,
        rank: i + 1,
        customer_id: customer,
        revenue: fromUnits(c.units),
        invoices: c.invoices.size,
        quantity: c.quantity,
      }),
    );
  }
  if (wanted.has(TOP_INVOICES_MONTHLY_KPI.name)) {
    out[TOP_INVOICES_MONTHLY_KPI.name] = top(totals.invoices, (v) => v.units, TOP_N).map(
      ([invoice, v], i) => ({
        month_start: date,
        rank: i + 1,
        invoice_no: invoice,
        customer_id: v.customer,
        country: v.country,
        revenue: fromUnits(v.units),
        quantity: v.quantity,
        lines: v.lines,
      }),
    );
  }
  return out;
}

/** Row indices in arrival order: load time, run, source file, source row. */
export function arrivalOrder(rows: Columns): number[] {
  const n = rows._run_id?.length ?? 0;
  const loaded = rows._loaded_at!;
  const run = rows._run_id!;
  const file = rows._source_file!;
  const line = rows._source_row!;
  return Array.from({ length: n }, (_, i) => i).sort(
    (a, b) =>
      (loaded[a] as number) - (loaded[b] as number) ||
      compare(run[a] as string, run[b] as string) ||
      compare((file[a] as string) ?? '', (file[b] as string) ?? '') ||
      (line[a] as number) - (line[b] as number),
  );
}

/** The invoices of one date's validated rows, lines numbered in arrival order. */
export function invoicesOf(rows: Columns): Invoice[] {
  // An invoice's first instant is kept as a number and written as text once: two ISO texts a
  // line were half of this function's time.
  const invoices = new Map<string, Omit<Invoice, 'invoiceDate'> & { units: number; at: number }>();
  for (const i of arrivalOrder(rows)) {
    const no = rows.invoice_no![i] as string;
    const at = rows.invoice_date![i] as number;
    const quantity = rows.quantity![i] as number;
    const unitPrice = rows.unit_price![i] as number;
    const units = toUnits(quantity, unitPrice);
    const invoice = getOr(invoices, no, () => ({
      invoiceNo: no,
      at,
      customerId: null,
      country: null,
      kind: invoiceKind(no),
      lines: 0,
      quantity: 0,
      total: 0,
      units: 0,
      items: [],
    }));
    if (at < invoice.at) invoice.at = at;
    invoice.customerId ??= rows.customer_id![i] as string | null;
    invoice.country ??= rows.country![i] as string | null;
    invoice.lines += 1;
    invoice.quantity += quantity;
    invoice.units += units;
    invoice.items.push({
      line: invoice.lines,
      stockCode: rows.stock_code![i] as string,
      description: rows.description![i] as string | null,
      quantity,
      unitPrice,
      amount: fromUnits(units),
      flags: (rows.flags![i] as string | null) ?? '',
    });
  }
  return [...invoices.values()].map(({ units, at, invoiceNo, ...invoice }) => ({
    invoiceNo,
    invoiceDate: new Date(at).toISOString(),
    ...invoice,
    total: fromUnits(units),
  }));
}

/** Writes the purchase history of each touched date: every line of every invoice of the date. */
export const purchaseHistorySink: ProfileSink = {
  name: 'purchase_history',
  async writeDate(input, date, ports) {
    if (!ports.history) {
      throw new Error('online-retail: no purchase-history store (CARTPIPE_HISTORY_TABLE) given');
    }
    return ports.history.replaceDate(date, invoicesOf(await input.rows(transactions.name, date)));
  },
};

export const onlineRetail: Profile = {
  name: 'online-retail',
  description: 'UCI Online Retail: invoice lines (sales, cancellations, adjustments)',
  entities: [transactions],
  kpis: ONLINE_RETAIL_KPIS,
  computeKpis: (input, _date, window) => computeWindow(input, window),
  sinks: [purchaseHistorySink],
};
