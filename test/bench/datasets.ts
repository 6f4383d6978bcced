/**
 * The benchmark's other data sets (`npm run bench -- --dataset <name>`): deterministic files of
 * about `rows` source rows shaped like each profile's sample in ../shared/datasets, and each
 * profile's KPIs computed independently by DuckDB over those files (the references its tests
 * use), to check the pipeline's KPIs at scale.
 *
 * - clickstream: synthetic Taobao raw_sample impressions, 8 days from 2017-05-06 (Beijing), the
 *   real set's proportions (a user per ~23 impressions, an ad group per ~31, ~5% clicked), a few
 *   rejected rows and exact duplicates.
 * - rees46: synthetic shop sessions over 121 days from 2022-10-01 in the sample's monthly files
 *   (customer/data_YYYY_mon.csv), on the sample's real item catalogue (item/item.csv); 5% of
 *   events name products it lacks, 1% of sessions have no session id, exact duplicates.
 * - online-retail: the real UCI sample (58,991 lines) copied until there are `rows` lines, each
 *   copy with its own invoice numbers (its cancellations, adjustments, missing customers and
 *   exact duplicates come along).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Papa from 'papaparse';
import type { Value } from '../../src/formats/parquet.js';
import { loadAggregations } from '../../src/profiles/clickstream/aggregations.js';
import { clickstreamKpi } from '../profiles/clickstream-reference.js';
import { loadOnlineRetail, onlineRetailKpis } from '../profiles/online-retail-reference.js';
import { rees46Kpis } from '../profiles/rees46-reference.js';
import { duckdb } from '../profiles/duckdb.js';
import type { Counts } from './compare.js';
import { LineFile, prng } from './generate.js';

export const OTHER_DATASETS = ['clickstream', 'rees46', 'online-retail'] as const;
export type OtherDataset = (typeof OTHER_DATASETS)[number];

/** Bump when a generator's output changes, so cached sets are made again. */
const GENERATOR_VERSION = 1;

export interface DatasetFiles {
  dataset: OtherDataset;
  dir: string;
  /** Files of the batch, `name` relative to `dir` (the key under incoming/<batch>/). */
  files: { path: string; name: string }[];
  /** Data lines written, every file (rejected lines and duplicates included). */
  rows: number;
  bytes: number;
  /** Lines made to be rejected or dropped, by kind. */
  injected: Record<string, number>;
}

type Rows = Record<string, Value>[];

/** ../shared/datasets beside the project (the benchmark runs from dist/, the tests from test/). */
function samplesDir(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the project folder above ' + import.meta.dirname);
    dir = up;
  }
  return join(dir, '..', 'shared', 'datasets');
}

/** The data set's files under `root`, generated unless a finished set of the same shape is there. */
export function generateDataset(
  root: string,
  dataset: OtherDataset,
  rows: number,
  seed: number,
): DatasetFiles {
  const dir = join(root, `${dataset}-n${rows}-s${seed}-v${GENERATOR_VERSION}`);
  const done = join(dir, 'generated.json');
  if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as DatasetFiles;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const made =
    dataset === 'clickstream'
      ? clickstreamFiles(dir, rows, seed)
      : dataset === 'rees46'
        ? rees46Files(dir, rows, seed)
        : onlineRetailFiles(dir, rows);
  const data: DatasetFiles = { dataset, dir, ...made };
  writeFileSync(done, JSON.stringify(data));
  return data;
}

type Made = Omit<DatasetFiles, 'dataset' | 'dir'>;

function finish(dir: string, files: LineFile[], injected: Record<string, number>): Made {
  for (const f of files) f.close();
  return {
    files: files.map((f) => ({ path: f.path, name: f.path.slice(dir.length + 1) })),
    rows: files.reduce((n, f) => n + f.rows, 0),
    bytes: files.reduce((n, f) => n + f.bytes, 0),
    injected,
  };
}

const pick = <T>(items: readonly T[], random: () => number): T =>
  items[Math.floor(random() * items.length)]!;

/** Lines made bad whatever the size: a roll for each kind of clickstreamFiles' bad lines. */
const FORCED_ROLLS = new Map([
  [10, 0],
  [20, 0.00007],
  [30, 0.00012],
  [40, 0.0002],
]);

function clickstreamFiles(dir: string, rows: number, seed: number): Made {
  const random = prng(seed);
  const users = Math.max(100, Math.round(rows / 23));
  const adGroups = Math.max(50, Math.round(rows / 31));
  // 2017-05-06 00:00 in Beijing, as epoch seconds; the real set's eight days.
  const start = Date.UTC(2017, 4, 5, 16) / 1000;
  const parts = Math.min(4, Math.max(1, Math.ceil(rows / 250_000)));
  const header = ['user', 'time_stamp', 'adgroup_id', 'pid', 'nonclk', 'clk'];
  const files = Array.from(
    { length: parts },
    (_, p) => new LineFile(join(dir, `raw_sample-${p + 1}.csv`), header),
  );
  const injected = {
    inconsistent_click_flags: 0,
    invalid_timestamp: 0,
    missing_user: 0,
    duplicate: 0,
  };
  for (let i = 0; i < rows; i++) {
    const file = files[Math.floor((i * parts) / rows)]!;
    const clk = random() < 0.05 ? 1 : 0;
    const line = [
      1 + Math.floor(random() * users),
      start + Math.floor(random() * 8 * 86_400),
      1 + Math.floor(random() * adGroups),
      random() < 0.7 ? '430548_1007' : '430539_1007',
      1 - clk,
      clk,
    ].join(',');
    // One of each kind early on, so that a small set has them too; then ~1 in 20,000 of each.
    const roll = FORCED_ROLLS.get(i) ?? random();
    if (roll < 0.00005) {
      injected.inconsistent_click_flags += 1;
      file.line(line.replace(/,\d,(\d)$/, ',$1,$1'));
    } else if (roll < 0.0001) {
      injected.invalid_timestamp += 1;
      file.line(line.replace(/^(\d+),\d+,/, '$1,n/a,'));
    } else if (roll < 0.00015) {
      injected.missing_user += 1;
      file.line(line.replace(/^\d+,/, ','));
    } else if (roll < 0.00025 && i + 1 < rows) {
      injected.duplicate += 1;
      file.line(line);
      file.line(line);
      i += 1;
    } else {
      file.line(line);
    }
  }
  return finish(dir, files, injected);
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const EVENT_TYPES: readonly [string, number][] = [
  ['view', 0.65],
  ['cart', 0.9],
  ['remove_from_cart', 0.97],
  ['purchase', 1],
];

function rees46Files(dir: string, rows: number, seed: number): Made {
  const random = prng(seed);
  const catalogue = join(samplesDir(), 'rees46-events', 'item', 'item.csv');
  mkdirSync(join(dir, 'item'));
  mkdirSync(join(dir, 'customer'));
  const itemPath = join(dir, 'item', 'item.csv');
  copyFileSync(catalogue, itemPath);
  const productIds = readFileSync(catalogue, 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => line !== '')
    .map((line) => Number(line.slice(0, line.indexOf(','))));
  const days = 121;
  const users = Math.max(100, Math.round(rows / 25));
  const perDay = rows / days;
  const header = ['event_time', 'event_type', 'product_id', 'price', 'user_id', 'user_session'];
  const files = new Map<string, LineFile>();
  const injected = { duplicate: 0, events_of_unknown_products: 0, sessions_without_id: 0 };
  const hex = (digits: number) =>
    Array.from({ length: digits }, () => Math.floor(random() * 16).toString(16)).join('');
  // A product's price in cents, the same on every event (1 cent to 50.00).
  const priceOf = (id: number) => (((Math.imul(id, 2654435761) >>> 0) % 5000) + 1) / 100;
  let written = 0;
  for (let d = 0; d < days && written < rows; d++) {
    const day = new Date(Date.UTC(2022, 9, 1 + d));
    const name = `customer/data_${day.getUTCFullYear()}_${MONTHS[day.getUTCMonth()]}.csv`;
    let file = files.get(name);
    if (!file) files.set(name, (file = new LineFile(join(dir, name), header)));
    const target = d === days - 1 ? rows - written : Math.round(perDay * (d + 1)) - written;
    const events: [number, string][] = [];
    while (events.length < target) {
      const user = 1 + Math.floor(random() * users);
      const session = random() < 0.01 ? '' : `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
      if (session === '') injected.sessions_without_id += 1;
      let at = Math.floor(random() * 86_000);
      const length = Math.min(target - events.length, 1 + Math.floor(-Math.log(1 - random()) * 4));
      for (let e = 0; e < length; e++) {
        const roll = random();
        const type = EVENT_TYPES.find(([, upTo]) => roll < upTo)![0];
        let product = pick(productIds, random);
        if (random() < 0.05) {
          injected.events_of_unknown_products += 1;
          product = 90_000_000 + Math.floor(random() * 1000);
        }
        events.push([at, `${type},${product},${priceOf(product)},${user},${session}`]);
        at = Math.min(86_399, at + Math.floor(random() * 120));
      }
    }
    events.sort((a, b) => a[0] - b[0]);
    const date = day.toISOString().slice(0, 10);
    for (const [at, rest] of events) {
      const time = new Date(Date.UTC(2022, 9, 1 + d) + at * 1000).toISOString().slice(11, 19);
      const line = `${date} ${time} UTC,${rest}`;
      file.line(line);
      // A repeated line counts towards the rows asked for (the next days write fewer); the last
      // day's copies may take the total a few lines past it.
      if (random() < 0.0001 && written + 1 < rows) {
        injected.duplicate += 1;
        file.line(line);
        written += 1;
      }
      written += 1;
    }
  }
  const made = finish(dir, [...files.values()], injected);
  return {
    ...made,
    files: [...made.files, { path: itemPath, name: 'item/item.csv' }],
    bytes: made.bytes + readFileSync(itemPath).length,
  };
}

function onlineRetailFiles(dir: string, rows: number): Made {
  const sample = join(samplesDir(), 'online-retail', 'online_retail_2010-12-01_to_2011-01-16.csv');
  const parsed = Papa.parse<string[]>(readFileSync(sample, 'utf8'), { skipEmptyLines: true });
  const [header, ...lines] = parsed.data;
  const copies = Math.ceil(rows / lines.length);
  const files: LineFile[] = [];
  for (let c = 0; c < copies; c++) {
    const file = new LineFile(join(dir, `online_retail-${c + 1}.csv`), header!);
    const count = Math.min(lines.length, rows - c * lines.length);
    for (let i = 0; i < count; i++) {
      const fields = [...lines[i]!];
      // Another copy's invoices: the number moved on by a million, a C or A prefix kept.
      fields[0] = fields[0]!.replace(/\d+/, (n) => String(Number(n) + c * 1_000_000));
      file.line(Papa.unparse([fields], { newline: '' }));
    }
    files.push(file);
  }
  return finish(dir, files, {
    copies_of_the_sample: copies,
    exact_duplicates_per_copy: 602,
  });
}

/**
 * Why validate rejects a raw clickstream line (SQL over its text columns), null for a valid one:
 * each bad line clickstreamFiles writes breaks one rule.
 */
const CLICK_REJECT_REASON = `case
  when coalesce("user", '') = '' then 'missing_value:user_id'
  when try_cast(time_stamp as bigint) is null then 'invalid_timestamp:event_time'
  when not (clk in ('0', '1') and nonclk::integer = 1 - clk::integer) then 'inconsistent_click_flags'
  end`;

/** The data set's KPIs by DuckDB over its files, by KPI name. */
export async function referenceKpis(data: DatasetFiles): Promise<Record<string, Rows>> {
  if (data.dataset === 'rees46') {
    const reference = await rees46Kpis(
      join(data.dir, 'customer', '*.csv'),
      join(data.dir, 'item', 'item.csv'),
    );
    reference.db.closeSync();
    const { daily, brand_daily, category_daily } = reference;
    return { daily, brand_daily, category_daily };
  }
  if (data.dataset === 'online-retail') {
    const db = await loadOnlineRetail(join(data.dir, 'online_retail-*.csv'));
    try {
      return { ...(await onlineRetailKpis(db)) };
    } finally {
      db.closeSync();
    }
  }
  const db = await duckdb();
  try {
    await db.run(`
      create table clicks as
        select distinct "user", time_stamp, adgroup_id, pid, nonclk, clk
        from read_csv('${join(data.dir, 'raw_sample-*.csv')}', header = true, all_varchar = true)
        where (${CLICK_REJECT_REASON}) is null`);
    const out: Record<string, Rows> = {};
    for (const a of loadAggregations()) out[a.name] = await clickstreamKpi(db, 'clicks', a);
    return out;
  } finally {
    db.closeSync();
  }
}

/**
 * validate's counts by DuckDB: every line read, rejected for the rule it breaks, or an exact
 * copy of a valid line dropped (rees46's item catalogue is left out: its versions per product
 * are a matter of the reader).
 */
export async function referenceCounts(data: DatasetFiles): Promise<Record<string, Counts>> {
  const db = await duckdb();
  try {
    const entity = { clickstream: 'clicks', rees46: 'events', 'online-retail': 'transactions' }[
      data.dataset
    ];
    const glob = {
      clickstream: 'raw_sample-*.csv',
      rees46: 'customer/*.csv',
      'online-retail': 'online_retail-*.csv',
    }[data.dataset];
    // Each rejected line the generator wrote breaks one rule; the real samples break none.
    const reason = data.dataset === 'clickstream' ? CLICK_REJECT_REASON : 'null::varchar';
    await db.run(`
      create table raw as
        select *, ${reason} as reason
        from read_csv('${join(data.dir, glob)}', header = true, all_varchar = true)`);
    const [totals] = (
      await db.runAndReadAll(`
      select count(*)::integer as rows_in,
             count(*) filter (where reason is not null)::integer as rejected,
             (select count(*) from (select distinct * from raw where reason is null))::integer as valid
      from raw`)
    ).getRowObjectsJS() as { rows_in: number; rejected: number; valid: number }[];
    const reasons = (
      await db.runAndReadAll(
        `select reason, count(*)::integer as n from raw where reason is not null group by reason`,
      )
    ).getRowObjectsJS() as { reason: string; n: number }[];
    return {
      [entity]: {
        rowsIn: totals!.rows_in,
        valid: totals!.valid,
        rejected: totals!.rejected,
        duplicatesDropped: totals!.rows_in - totals!.rejected - totals!.valid,
        held: 0,
        rejectsByReason: Object.fromEntries(reasons.map((r) => [r.reason, r.n])),
      },
    };
  } finally {
    db.closeSync();
  }
}
