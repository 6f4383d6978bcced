/**
 * Deterministic thelook-shaped test data for `npm run bench`: products (10k), orders (about N/3,
 * 1-5 items each like the lab sample) and N order_items, with the sample's nulls (returned_at
 * only on returned orders, shipped/delivered missing on early statuses), its status mix, dates
 * spread over a number of days, and a few bad rows of each kind validate must catch. The same
 * options always give byte-identical files, so a generated set is reused across runs.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** Bump when the generated content changes, so cached sets are regenerated. */
const GENERATOR_VERSION = 3;

export interface GenerateOptions {
  /** order_items rows. */
  rows: number;
  seed: number;
  /** Days the order dates spread over, starting at `startDate`. */
  days: number;
  /** Files per entity for orders and order_items (products is one file). */
  parts: number;
  /** First order date, YYYY-MM-DD (UTC). */
  startDate: string;
}

export interface GeneratedFile {
  entity: 'products' | 'orders' | 'order_items';
  /** Absolute path on disk. */
  path: string;
  /** Name relative to the data folder (the key under incoming/<batch>/). */
  name: string;
  /** Data rows (header excluded). */
  rows: number;
}

export interface GeneratedData {
  dir: string;
  options: GenerateOptions;
  files: GeneratedFile[];
  /** Data rows per entity, every line written (bad rows and duplicates included). */
  rows: Record<GeneratedFile['entity'], number>;
  /** Bad rows injected, by entity and kind. */
  injected: Record<string, Record<string, number>>;
  bytes: number;
  firstDay: string;
  lastDay: string;
}

export const PRODUCT_COUNT = 10_000;
export const CATEGORIES = [
  'Beauty',
  'Sports',
  'Home & Kitchen',
  'Clothing',
  'Electronics',
  'Toys',
  'Books',
] as const;
const DEPARTMENTS: Record<string, string> = {
  Beauty: 'Personal Care',
  Sports: 'Outdoors',
  'Home & Kitchen': 'Home',
  Clothing: 'Apparel',
  Electronics: 'Tech',
  Toys: 'Kids',
  Books: 'Media',
};
const BRANDS = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne', 'Soylent'];
const WORDS = [
  'stable',
  'budgetary',
  'organized',
  'national',
  'open',
  'focused',
  'discrete',
  'help-desk',
  'synergized',
  'modular',
  'compact',
  'secure',
  'adaptive',
  '"quoted, with comma"',
];
export const ORDER_HEADER = [
  'order_id',
  'user_id',
  'status',
  'created_at',
  'returned_at',
  'shipped_at',
  'delivered_at',
  'num_of_item',
] as const;
export const ITEM_HEADER = [
  'id',
  'order_id',
  'user_id',
  'product_id',
  'status',
  'created_at',
  'shipped_at',
  'delivered_at',
  'returned_at',
  'sale_price',
] as const;
export const PRODUCT_HEADER = [
  'id',
  'sku',
  'cost',
  'category',
  'name',
  'brand',
  'retail_price',
  'department',
] as const;

/** mulberry32: a tiny seeded PRNG; statistical quality is ample for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Buffered synchronous line writer (one write per ~1 MB). */
export class LineFile {
  private readonly fd: number;
  private buffer = '';
  rows = 0;
  bytes = 0;
  constructor(
    readonly path: string,
    header: readonly string[],
  ) {
    this.fd = openSync(path, 'w');
    this.buffer = `${header.join(',')}\n`;
  }
  line(text: string, isDataRow = true): void {
    this.buffer += `${text}\n`;
    if (isDataRow) this.rows += 1;
    if (this.buffer.length > 1 << 20) this.flush();
  }
  private flush(): void {
    if (!this.buffer) return;
    this.bytes += writeSync(this.fd, this.buffer);
    this.buffer = '';
  }
  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

const two = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/** Formats epoch seconds as a naive ISO timestamp, caching the date part per day. */
function timestampFormatter(): (epochSeconds: number) => string {
  const days = new Map<number, string>();
  return (s) => {
    const day = Math.floor(s / 86_400);
    let prefix = days.get(day);
    if (prefix === undefined) {
      prefix = `${new Date(day * 86_400_000).toISOString().slice(0, 10)}T`;
      days.set(day, prefix);
    }
    const rest = s - day * 86_400;
    const h = Math.floor(rest / 3600);
    const m = Math.floor((rest % 3600) / 60);
    return `${prefix}${two[h]}:${two[m]}:${two[rest % 60]}`;
  };
}

type OrderStatus = 'delivered' | 'returned' | 'shipped' | 'processing' | 'cancelled';

/** The lab sample is ~79% delivered / 21% returned; a little of the other statuses is added. */
function pickStatus(r: number): OrderStatus {
  if (r < 0.76) return 'delivered';
  if (r < 0.96) return 'returned';
  if (r < 0.98) return 'shipped';
  if (r < 0.99) return 'processing';
  return 'cancelled';
}

/** Positions (0..size-1) for each kind, disjoint, chosen by the PRNG. */
function placements(
  random: () => number,
  size: number,
  kinds: readonly string[],
  each: number,
): Map<number, string> {
  const out = new Map<number, string>();
  for (const kind of kinds) {
    let placed = 0;
    while (placed < each && out.size < size) {
      const at = Math.floor(random() * size);
      if (out.has(at)) continue;
      out.set(at, kind);
      placed += 1;
    }
  }
  return out;
}

const ORDER_BAD_KINDS = [
  'bad_created_at',
  'unknown_status',
  'ragged_short',
  'missing_user_id',
  'exact_duplicate',
  'key_conflict',
  'status_case',
] as const;
const ITEM_BAD_KINDS = [
  'negative_price',
  'bad_price',
  'unknown_status',
  'bad_shipped_at',
  'ragged_long',
  'orphan_order',
  'orphan_product',
  'exact_duplicate',
  'key_conflict',
] as const;

export function dataDirName(o: GenerateOptions): string {
  return `thelook-n${o.rows}-s${o.seed}-d${o.days}-p${o.parts}-${o.startDate}`;
}

/**
 * Generates (or reuses) the data set for `options` under `root`.
 * @example
 * const data = generate('bench-data', { rows: 1e6, seed: 42, days: 365, parts: 4, startDate: '2024-04-01' });
 */
export function generate(root: string, options: GenerateOptions): GeneratedData {
  const dir = join(root, dataDirName(options));
  // Next to the folder, not in it: `cartpipe run <folder>` must see data files only.
  const metaPath = `${dir}.json`;
  if (existsSync(metaPath) && existsSync(dir)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as GeneratedData & {
      version: number;
    };
    if (meta.version === GENERATOR_VERSION) return meta;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'orders'), { recursive: true });
  mkdirSync(join(dir, 'order_items'), { recursive: true });
  const random = prng(options.seed);
  const ts = timestampFormatter();
  const badEach = Math.max(3, Math.round(options.rows / 200_000));
  const injected: Record<string, Record<string, number>> = {
    products: {},
    orders: {},
    order_items: {},
  };
  const count = (entity: string, kind: string) =>
    (injected[entity]![kind] = (injected[entity]![kind] ?? 0) + 1);

  // Products: ids 1..10000; a few with no category and one exact duplicate line.
  const products = new LineFile(join(dir, 'products.csv'), PRODUCT_HEADER);
  const retail = new Float64Array(PRODUCT_COUNT + 1);
  const productBad = placements(random, PRODUCT_COUNT, ['missing_category', 'exact_duplicate'], 2);
  for (let id = 1; id <= PRODUCT_COUNT; id++) {
    const category = CATEGORIES[Math.floor(random() * CATEGORIES.length)]!;
    const price = Math.round((9.45 + random() * 160.39) * 100) / 100;
    retail[id] = price;
    const cost = (price * (0.3 + random() * 0.3)).toFixed(2);
    const letters = String.fromCharCode(
      65 + Math.floor(random() * 26),
      97 + Math.floor(random() * 26),
      65 + Math.floor(random() * 26),
    );
    const sku = `${letters}-${String(Math.floor(random() * 1e8)).padStart(8, '0')}`;
    const name = [0, 1, 2].map(() => WORDS[Math.floor(random() * WORDS.length)]!).join(' ');
    const quotedName = name.includes('"') ? `"${name.replace(/"/g, '""')}"` : name;
    const brand = BRANDS[Math.floor(random() * BRANDS.length)]!;
    const kind = productBad.get(id - 1);
    const line = `${id},${sku},${cost},${kind === 'missing_category' ? '' : category},${quotedName},${brand},${price.toFixed(2)},${DEPARTMENTS[category]}`;
    products.line(line);
    if (kind) count('products', kind);
    if (kind === 'exact_duplicate') products.line(line);
  }
  products.close();

  // Orders and their items, split into `parts` files by order ranges (items follow their order).
  const expectedOrders = Math.max(1, Math.round(options.rows / 3));
  const ordersPerPart = Math.ceil(expectedOrders / options.parts);
  const orderBad = placements(random, expectedOrders, ORDER_BAD_KINDS, badEach);
  const itemBad = placements(random, options.rows, ITEM_BAD_KINDS, badEach);
  const start = Date.parse(`${options.startDate}T00:00:00Z`) / 1000;
  const users = Math.max(1000, Math.round(expectedOrders / 2));
  const files: GeneratedFile[] = [
    { entity: 'products', path: products.path, name: 'products.csv', rows: products.rows },
  ];
  let orderFile: LineFile | undefined;
  let itemFile: LineFile | undefined;
  const closeParts = () => {
    for (const [entity, f] of [
      ['orders', orderFile],
      ['order_items', itemFile],
    ] as const) {
      if (!f) continue;
      f.close();
      files.push({ entity, path: f.path, name: f.path.slice(dir.length + 1), rows: f.rows });
    }
  };
  let itemId = 0;
  let orderId = 0;
  let orphanOrder = 2_000_000_000;
  let currentPart = -1;
  while (itemId < options.rows) {
    const partIndex = Math.min(options.parts - 1, Math.floor(orderId / ordersPerPart));
    if (partIndex !== currentPart) {
      closeParts();
      currentPart = partIndex;
      const part = String(partIndex + 1).padStart(3, '0');
      orderFile = new LineFile(join(dir, 'orders', `orders_part${part}.csv`), ORDER_HEADER);
      itemFile = new LineFile(join(dir, 'order_items', `order_items_part${part}.csv`), ITEM_HEADER);
    }
    const orderIndex = orderId;
    orderId += 1;
    const items = Math.min(1 + Math.floor(random() * 5), options.rows - itemId);
    const user = 1 + Math.floor(random() * users);
    const status = pickStatus(random());
    const created =
      start + Math.floor(random() * options.days) * 86_400 + Math.floor(random() * 86_400);
    const shipped =
      status === 'processing' || status === 'cancelled'
        ? undefined
        : created + 21_600 + Math.floor(random() * 151_200);
    const delivered =
      shipped === undefined || status === 'shipped' || (status === 'delivered' && random() < 0.01)
        ? undefined
        : shipped + 86_400 + Math.floor(random() * 259_200);
    const returned =
      status === 'returned'
        ? (delivered ?? shipped ?? created) + 86_400 + Math.floor(random() * 345_600)
        : undefined;
    const t = (s: number | undefined) => (s === undefined ? '' : ts(s));
    const kind = orderBad.get(orderIndex);
    let statusText: string = status;
    let createdText = ts(created);
    let userText = String(user);
    if (kind === 'bad_created_at')
      createdText = orderIndex % 2 ? '2025-02-30T10:00:00' : 'yesterday';
    if (kind === 'unknown_status') statusText = 'lost';
    if (kind === 'status_case') statusText = status[0]!.toUpperCase() + status.slice(1);
    if (kind === 'missing_user_id') userText = '';
    const fields = [
      orderId,
      userText,
      statusText,
      createdText,
      t(returned),
      t(shipped),
      t(delivered),
      items,
    ];
    const line = kind === 'ragged_short' ? fields.slice(0, 6).join(',') : fields.join(',');
    orderFile!.line(line);
    if (kind) count('orders', kind);
    if (kind === 'exact_duplicate') orderFile!.line(line);
    if (kind === 'key_conflict') {
      // Same order, another delivered_at: the later line is a conflicting duplicate key.
      fields[6] = ts(created + 999_999);
      orderFile!.line(fields.join(','));
    }

    for (let k = 0; k < items; k++) {
      const index = itemId;
      itemId += 1;
      const product = 1 + Math.floor(random() * PRODUCT_COUNT);
      let itemStatus: string = status;
      // ~4% of items disagree with their order on delivered/returned, as in the sample.
      if ((status === 'delivered' || status === 'returned') && random() < 0.04)
        itemStatus = status === 'delivered' ? 'returned' : 'delivered';
      const itemCreated = created + 60 + Math.floor(random() * 3600);
      const itemShipped = shipped === undefined ? undefined : shipped + Math.floor(random() * 3600);
      const itemDelivered =
        delivered === undefined ? undefined : delivered + Math.floor(random() * 3600);
      const itemReturned =
        itemStatus === 'returned'
          ? (itemDelivered ?? itemShipped ?? itemCreated) + 86_400 + Math.floor(random() * 345_600)
          : undefined;
      const itemKind = itemBad.get(index);
      let orderText = String(orderId);
      let productText = String(product);
      let priceText = retail[product]!.toFixed(2);
      let shippedText = t(itemShipped);
      if (itemKind === 'negative_price') priceText = `-${priceText}`;
      if (itemKind === 'bad_price') priceText = 'n/a';
      if (itemKind === 'unknown_status') itemStatus = 'misplaced';
      if (itemKind === 'bad_shipped_at') shippedText = '2025-13-01T00:00:00';
      if (itemKind === 'orphan_order') orderText = String(orphanOrder++);
      if (itemKind === 'orphan_product') productText = String(PRODUCT_COUNT + 1 + (index % 50));
      const itemFields = [
        itemId,
        orderText,
        user,
        productText,
        itemStatus,
        ts(itemCreated),
        shippedText,
        t(itemDelivered),
        t(itemReturned),
        priceText,
      ];
      const itemLine =
        itemKind === 'ragged_long' ? `${itemFields.join(',')},extra` : itemFields.join(',');
      itemFile!.line(itemLine);
      if (itemKind) count('order_items', itemKind);
      if (itemKind === 'exact_duplicate') itemFile!.line(itemLine);
      if (itemKind === 'key_conflict') {
        // Differs only in delivered_at, so either version gives the same KPIs.
        itemFields[7] = ts(itemCreated + 999_999);
        itemFile!.line(itemFields.join(','));
      }
    }
  }
  closeParts();
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rows = { products: 0, orders: 0, order_items: 0 };
  for (const f of files) rows[f.entity] += f.rows;
  const day = (offset: number) =>
    new Date((start + offset * 86_400) * 1000).toISOString().slice(0, 10);
  const data: GeneratedData = {
    dir,
    options,
    files,
    rows,
    injected,
    bytes: files.reduce((sum, f) => sum + statSync(f.path).size, 0),
    firstDay: day(0),
    lastDay: day(options.days - 1),
  };
  writeFileSyncJson(metaPath, { version: GENERATOR_VERSION, ...data });
  return data;
}

/**
 * A small batch of orders and items all on one day (ids above the main set's), for the
 * partition-pruning case: compute-kpi for it should not depend on how much history exists.
 */
export function generateOneDayBatch(
  root: string,
  options: { seed: number; date: string; orders: number },
): GeneratedData {
  const dir = join(root, `thelook-oneday-${options.date}-o${options.orders}-s${options.seed}`);
  const metaPath = `${dir}.json`;
  if (existsSync(metaPath) && existsSync(dir)) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as GeneratedData & { version: number };
    if (meta.version === GENERATOR_VERSION) return meta;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const random = prng(options.seed);
  const ts = timestampFormatter();
  const start = Date.parse(`${options.date}T00:00:00Z`) / 1000;
  const orders = new LineFile(join(dir, 'orders_oneday.csv'), ORDER_HEADER);
  const items = new LineFile(join(dir, 'order_items_oneday.csv'), ITEM_HEADER);
  let itemId = 1_500_000_000;
  for (let o = 0; o < options.orders; o++) {
    const orderId = 1_000_000_000 + o;
    const n = 1 + Math.floor(random() * 5);
    const status = pickStatus(random());
    const created = start + Math.floor(random() * 86_400);
    const user = 1 + Math.floor(random() * 100_000);
    orders.line([orderId, user, status, ts(created), '', '', '', n].join(','));
    for (let k = 0; k < n; k++) {
      const product = 1 + Math.floor(random() * PRODUCT_COUNT);
      const price = (9.45 + Math.floor(random() * 16_039) / 100).toFixed(2);
      items.line(
        [itemId++, orderId, user, product, status, ts(created + 60), '', '', '', price].join(','),
      );
    }
  }
  orders.close();
  items.close();
  const data: GeneratedData = {
    dir,
    options: { rows: items.rows, seed: options.seed, days: 1, parts: 1, startDate: options.date },
    files: [
      { entity: 'order_items', path: items.path, name: 'order_items_oneday.csv', rows: items.rows },
      { entity: 'orders', path: orders.path, name: 'orders_oneday.csv', rows: orders.rows },
    ],
    rows: { products: 0, orders: orders.rows, order_items: items.rows },
    injected: {},
    bytes: orders.bytes + items.bytes,
    firstDay: options.date,
    lastDay: options.date,
  };
  writeFileSyncJson(metaPath, { version: GENERATOR_VERSION, ...data });
  return data;
}

function writeFileSyncJson(path: string, value: unknown): void {
  const fd = openSync(path, 'w');
  writeSync(fd, `${JSON.stringify(value, null, 2)}\n`);
  closeSync(fd);
}
