import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths } from '../../src/cli/submit.js';
import { layout } from '../../src/contracts/layout.js';
import type { StageReport } from '../../src/contracts/report.js';
import type { Columns } from '../../src/formats/parquet.js';
import { mergeItems, rees46, REES46_KPIS } from '../../src/profiles/rees46/index.js';
import type { KpiInput } from '../../src/profiles/types.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { rees46Kpis } from './rees46-reference.js';
import {
  expectRowsMatch,
  expectRowsReconcile,
  expectSucceeded,
  loadRun,
  query,
  validatedRows,
} from './support.js';

const SAMPLE = join(DATASETS, 'rees46-events');
const KAGGLE = join(import.meta.dirname, '..', 'fixtures', 'rees46', '2019-Oct.csv');
type Reference = Awaited<ReturnType<typeof rees46Kpis>>;

describe('rees46: the real sample, events joined to item.csv by product_id', () => {
  let t: TestRuntime;
  let reference: Reference;
  let reports: StageReport[];
  beforeAll(async () => {
    t = await startTestRuntime();
    reference = await rees46Kpis(`${SAMPLE}/customer/*.csv`, `${SAMPLE}/item/item.csv`);
    const files = expandPaths([SAMPLE]);
    expect(files.map((f) => f.name).sort()).toEqual([
      'customer/data_2022_dec.csv',
      'customer/data_2022_nov.csv',
      'customer/data_2022_oct.csv',
      'customer/data_2023_feb.csv',
      'customer/data_2023_jan.csv',
      'item/item.csv',
    ]);
    ({ reports } = await loadRun(t, 'rees46', 'sample', files));
  });
  afterAll(async () => {
    reference?.db.closeSync();
    await t?.stop();
  });

  it('accounts for every row: 291 exact duplicate events dropped, every item row kept', () => {
    expectSucceeded(reports);
    expectRowsReconcile(reports[1]!);
    expect(reports[1]!.entities).toMatchObject({
      events: { rowsIn: 4995, valid: 4704, duplicatesDropped: 291, rejected: 0 },
      items: { rowsIn: 109_579, valid: 109_579, rejected: 0 },
    });
  });

  it.each(REES46_KPIS.map((k) => [k.name, k] as const))(
    '%s equals the DuckDB reference',
    async (name, kpi) => {
      const expected = reference[name as 'daily' | 'brand_daily' | 'category_daily'];
      expect(expected.length).toBeGreaterThan(0);
      expectRowsMatch(await t.kpis.list('rees46', name), expected, [
        kpi.dateColumn,
        ...kpi.groupBy,
      ]);
    },
  );

  it('has one daily row per sample file, with brands from item.csv', async () => {
    expect((await t.kpis.list('rees46', 'daily')).map((r) => r.event_date)).toEqual([
      '2022-10-01',
      '2022-11-01',
      '2022-12-01',
      '2023-01-01',
      '2023-02-01',
    ]);
    const brands = new Set((await t.kpis.list('rees46', 'brand_daily')).map((r) => r.brand));
    expect(brands).toContain('runail');
    expect(brands).toContain('unknown');
  });
});

describe('rees46: item rows of one product merge — later wins, emptiness never erases', () => {
  it('takes per attribute the last non-empty value in arrival order', () => {
    const rows: Columns = {
      product_id: [1, 1, 1, 2, 1],
      category_id: ['10', null, '11', '20', null],
      category_code: [null, 'a.b', null, null, null],
      brand: ['old', 'new', null, null, null],
      _loaded_at: [1, 1, 1, 1, 0],
      _run_id: ['r1', 'r1', 'r1', 'r1', 'r0'],
      _source_file: ['f', 'f', 'f', 'f', 'f'],
      _source_row: [1, 2, 3, 4, 9],
    };
    expect(Object.fromEntries(mergeItems(rows))).toEqual({
      1: { category_id: '11', category_code: 'a.b', brand: 'new' },
      2: { category_id: '20', category_code: null, brand: null },
    });
  });
});

describe('rees46: the Kaggle 9-column layout keeps 19-digit category ids exact', () => {
  let t: TestRuntime;
  let reference: Reference;
  let reports: StageReport[];
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-rees46-'));
  const ID = '1487580005134238553'; // float64 would make it 1487580005134238464
  beforeAll(async () => {
    t = await startTestRuntime();
    reference = await rees46Kpis(KAGGLE);
    ({ reports } = await loadRun(t, 'rees46', 'kaggle', [{ path: KAGGLE, name: '2019-Oct.csv' }]));
  });
  afterAll(async () => {
    reference?.db.closeSync();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the file as events, dropping its duplicate purchase', () => {
    expectSucceeded(reports);
    expect(reports[1]!.entities!.events).toMatchObject({
      rowsIn: 16,
      valid: 15,
      duplicatesDropped: 1,
    });
  });

  it.each(REES46_KPIS.map((k) => [k.name, k] as const))(
    '%s equals the DuckDB reference',
    async (name, kpi) => {
      const expected = reference[name as 'daily' | 'brand_daily' | 'category_daily'];
      expectRowsMatch(await t.kpis.list('rees46', name), expected, [
        kpi.dateColumn,
        ...kpi.groupBy,
      ]);
    },
  );

  it('keeps the id as the same text in validated/ Parquet', async () => {
    const rows = await validatedRows(t, 'rees46', 'events');
    expect(rows.category_id).toContain(ID);
    expect(rows.category_id).toContain('2053013555631882655');
  });

  it('stores it unchanged in the DynamoDB KPI table and the KPI Parquet (a VARCHAR for Athena)', async () => {
    const stored = await t.kpis.list('rees46', 'category_daily');
    const row = stored.find((r) => r.category_id === ID && r.event_date === '2019-10-01');
    expect(row).toMatchObject({ category_id: ID, purchases: 1, carts: 3, views: 1, removals: 1 });
    const path = join(dir, 'category_daily.parquet');
    writeFileSync(
      path,
      await t.store.get(layout.kpiPartKey('rees46', 'category_daily', '2019-10-01')),
    );
    const [parquet] = await query(
      reference.db,
      `select category_id, typeof(category_id) as type from read_parquet('${path}') where category_id = '${ID}'`,
    );
    expect(parquet).toEqual({ category_id: ID, type: 'VARCHAR' });
  });

  it("counts events without a session as the user's session of the day, on each side of midnight", async () => {
    const daily = await t.kpis.list('rees46', 'daily');
    expect(daily.find((r) => r.event_date === '2019-10-02')).toMatchObject({
      purchases: 1,
      orders: 1,
      sessions: 1,
    });
    const [first] = daily;
    expect(first).toMatchObject({ event_date: '2019-10-01', sessions: 8, orders: 2 });
  });
});

/** compute-kpi merges the catalogue once for the windows that share its rows, not once a window. */
describe('rees46: the merged catalogue, shared by windows while its rows are the same', () => {
  const start = Date.UTC(2022, 11, 1);
  const window = {
    date: '2022-12-01',
    period: 'day' as const,
    timeZone: 'UTC',
    start,
    end: start + 86_400_000,
    dates: ['2022-12-01'],
    kpis: REES46_KPIS,
  };
  const events: Columns = {
    event_time: [start + 1000, start + 2000],
    event_type: ['view', 'purchase'],
    product_id: [1, 2],
    price: [5, 7.5],
    user_id: [10, 11],
    user_session: ['s1', 's2'],
    brand: [null, null],
    category_id: [null, null],
    category_code: [null, null],
  };
  const catalogue = (brandOfOne: string): Columns => ({
    product_id: [1, 2],
    category_id: ['100', '200'],
    category_code: [null, null],
    brand: [brandOfOne, 'two'],
    _loaded_at: [1, 1],
    _run_id: ['r1', 'r1'],
    _source_file: ['item.csv', 'item.csv'],
    _source_row: [1, 2],
  });
  const inputWith = (items: Columns): KpiInput => ({
    timeZone: 'UTC',
    options: {},
    rows: async (entity) => {
      if (entity !== 'items') throw new Error('events are read a page at a time');
      return items;
    },
    batches: (entity) =>
      (async function* () {
        if (entity !== 'events') throw new Error('the catalogue is read whole');
        yield events;
      })(),
  });
  const brandsOf = async (items: Columns) =>
    ((await rees46.computeKpis(inputWith(items), window.date, window)).brand_daily ?? []).map(
      (r) => [r.brand, r.views, r.purchases],
    );

  it("asks for every date's events before it waits for the catalogue, so their reads overlap", async () => {
    const asked: string[] = [];
    let catalogueGiven!: (rows: Columns) => void;
    const twoDays = { ...window, dates: ['2022-11-30', '2022-12-01'] };
    const input: KpiInput = {
      timeZone: 'UTC',
      options: {},
      rows: (entity) => {
        asked.push(entity);
        // The catalogue arrives with the window's turn at folding: later than the asking.
        return new Promise<Columns>((resolve) => (catalogueGiven = resolve));
      },
      batches: (entity, dates) => {
        asked.push(`${entity} ${String(dates)}`);
        return (async function* () {
          if (dates === '2022-12-01') yield events;
        })();
      },
    };
    const computing = rees46.computeKpis(input, twoDays.date, twoDays);
    await new Promise((r) => setImmediate(r));
    expect(asked.sort()).toEqual(['events 2022-11-30', 'events 2022-12-01', 'items']);
    catalogueGiven(catalogue('one'));
    expect(((await computing).brand_daily ?? []).map((r) => r.brand)).toEqual(['one', 'two']);
  });

  it('reads the same rows to the same brands, and a changed catalogue to its new brands', async () => {
    const first = catalogue('one');
    expect(await brandsOf(first)).toEqual([
      ['one', 1, 0],
      ['two', 0, 1],
    ]);
    expect(await brandsOf(first)).toEqual([
      ['one', 1, 0],
      ['two', 0, 1],
    ]);
    // A later run's catalogue: other rows (the reader's cache makes new ones), other brands.
    expect(await brandsOf(catalogue('renamed'))).toEqual([
      ['renamed', 1, 0],
      ['two', 0, 1],
    ]);
  });
});
