import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout } from '../../src/contracts/layout.js';
import { ParquetFileWriter, type Value } from '../../src/formats/parquet.js';
import { listAll, putJson } from '../../src/ports/object-store.js';
import { getProfile } from '../../src/profiles/registry.js';
import { CommittedRuns } from '../../src/stages/committed-runs.js';
import { PrefetchBudget } from '../../src/stages/prefetch-budget.js';
import { UndatedRowsCache, ValidatedReader } from '../../src/stages/validated-reader.js';
import { validatedSchema } from '../../src/stages/validate.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

const thelook = getProfile('thelook');
const products = thelook.entities.find((e) => e.name === 'products')!;

describe('ValidatedReader', () => {
  let t: TestRuntime;
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-reader-'));

  /** A committed run's products part: [id, category] pairs, loaded at `loadedAt`. */
  async function commitProducts(runId: string, loadedAt: number, rows: [number, string][]) {
    const schema = validatedSchema(products);
    const path = join(dir, `${runId}.parquet`);
    const writer = new ParquetFileWriter(path, schema);
    const columns: Record<string, Value[]> = Object.fromEntries(schema.map((c) => [c.name, []]));
    rows.forEach(([id, category], i) => {
      for (const c of schema) {
        const value: Value =
          c.name === 'id'
            ? id
            : c.name === 'category'
              ? category
              : c.name === '_run_id'
                ? runId
                : c.name === '_loaded_at'
                  ? loadedAt
                  : c.name === '_source_row'
                    ? i + 2
                    : c.name === '_source_file'
                      ? 'products.csv'
                      : null;
        columns[c.name]!.push(value);
      }
    });
    writer.write(columns);
    writer.close();
    const prefix = layout.runOutputPrefix('validated', 'thelook', 'products', runId);
    await t.store.putFile(layout.partKey(prefix, 0), path);
    await putJson(t.store, layout.stageReport(runId, 'validate'), { status: 'SUCCEEDED' });
  }

  /** A committed run's orders part of `date`, a row per id, each column's value from `valueOf`. */
  async function commitOrdersPart(
    runId: string,
    date: string,
    part: number,
    ids: readonly number[],
    valueOf: (column: string, id: number, row: number) => Value,
  ) {
    const schema = validatedSchema(thelook.entities.find((e) => e.name === 'orders')!);
    const path = join(dir, `${runId}-orders-${part}.parquet`);
    const writer = new ParquetFileWriter(path, schema);
    writer.write(
      Object.fromEntries(
        schema.map((c) => [c.name, ids.map((id, row) => valueOf(c.name, id, row))]),
      ),
    );
    writer.close();
    const prefix = layout.runOutputPrefix('validated', 'thelook', 'orders', runId, date);
    await t.store.putFile(layout.partKey(prefix, part), path);
    await putJson(t.store, layout.stageReport(runId, 'validate'), { status: 'SUCCEEDED' });
  }

  /** commitOrdersPart's values for complete orders created at noon of `date`, by `userOf`. */
  const completeOrder =
    (runId: string, date: string, part: number, loadedAt: number, userOf: (id: number) => number) =>
    (name: string, orderId: number, row: number): Value =>
      ({
        order_id: orderId,
        user_id: userOf(orderId),
        status: 'complete',
        created_at: Date.parse(`${date}T12:00:00Z`),
        _run_id: runId,
        _loaded_at: loadedAt,
        _source_file: `orders-${part}.csv`,
        _source_row: row + 2,
      })[name] ?? null;

  /** `parts` small orders parts of `date` (ids part*10 and part*10+1), every order by `user`. */
  async function commitSmallOrders(
    runId: string,
    date: string,
    parts: number,
    loadedAt: number,
    user: number,
  ) {
    for (let part = 0; part < parts; part++) {
      await commitOrdersPart(
        runId,
        date,
        part,
        [part * 10, part * 10 + 1],
        completeOrder(runId, date, part, loadedAt, () => user),
      );
    }
  }

  /** The test store with its `get` replaced (to count or change what a reader fetches). */
  const withGet = (get: typeof t.store.get) =>
    Object.assign(Object.create(t.store) as typeof t.store, { get });

  const reader = (cache: UndatedRowsCache) =>
    new ValidatedReader(t.store, thelook, new CommittedRuns(t.store), cache);

  beforeAll(async () => {
    t = await startTestRuntime();
    await commitProducts('run-a', 1_000, [
      [1, 'Jeans'],
      [2, 'Tops'],
    ]);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns only the columns asked for, in that order, latest version per key', async () => {
    const rows = await reader(new UndatedRowsCache()).rows('products', undefined, [
      'category',
      'id',
    ]);
    expect(Object.keys(rows)).toEqual(['category', 'id']);
    expect(rows).toEqual({ category: ['Jeans', 'Tops'], id: [1, 2] });
  });

  it('refuses a column the entity does not have', () => {
    expect(() => reader(new UndatedRowsCache()).rows('products', undefined, ['colour'])).toThrow(
      /thelook\.products has no column colour/,
    );
  });

  it('reuses a cached catalogue until a committed part changes, then reads the new one', async () => {
    const cache = new UndatedRowsCache();
    const first = reader(cache);
    const before = await first.rows('products', undefined, ['id', 'category']);
    expect(first.partsRead).toBe(1);

    const again = reader(cache);
    expect(await again.rows('products', undefined, ['id', 'category'])).toBe(before);
    expect(again.partsRead).toBe(0);

    // A later run re-sends product 2 in another category and adds product 3.
    await commitProducts('run-b', 2_000, [
      [2, 'Shorts'],
      [3, 'Socks'],
    ]);
    const after = reader(cache);
    const rows = await after.rows('products', undefined, ['id', 'category']);
    expect(after.partsRead).toBe(2);
    const byId = Object.fromEntries(rows.id!.map((id, i) => [id, rows.category![i]]));
    expect(byId).toEqual({ 1: 'Jeans', 2: 'Shorts', 3: 'Socks' });
  });

  /**
   * Every batch of `batches`, with the store's GETs counted, and the most of them waiting at once
   * (each GET answered 20 ms late, as S3 round trips are).
   */
  async function readBatches(entity: string, columns: string[]) {
    let gets = 0;
    let waiting = 0;
    let mostWaiting = 0;
    const counting = withGet(async (key: string) => {
      gets += 1;
      mostWaiting = Math.max(mostWaiting, ++waiting);
      await new Promise((resolve) => setTimeout(resolve, 20));
      waiting -= 1;
      return t.store.get(key);
    });
    const batchReader = new ValidatedReader(counting, thelook, new CommittedRuns(t.store));
    const batches: Record<string, Value[]>[] = [];
    for await (const batch of batchReader.batches(entity, undefined, columns)) batches.push(batch);
    return { batches, gets, mostWaiting, partsRead: batchReader.partsRead };
  }

  it('hands out the latest version of each key across runs a row group at a time', async () => {
    // run-c ties with run-b on product 3 (same load time): the later run id wins, as in validate.
    await commitProducts('run-c', 2_000, [
      [3, 'Hats'],
      [4, 'Caps'],
    ]);
    const { batches, gets, mostWaiting, partsRead } = await readBatches('products', [
      'id',
      'category',
    ]);
    // One batch per part (a row group each), the replaced rows left out of theirs.
    expect(batches.map((b) => Object.keys(b))).toEqual([
      ['id', 'category'],
      ['id', 'category'],
      ['id', 'category'],
    ]);
    expect(batches.map((b) => b.id!.length).sort()).toEqual([1, 1, 2]);
    const byId = Object.fromEntries(
      batches.flatMap((b) => b.id!.map((id, i) => [id, b.category![i]] as const)),
    );
    expect(byId).toEqual({ 1: 'Jeans', 2: 'Shorts', 3: 'Hats', 4: 'Caps' });
    // Keys and versions first, then the columns asked for: each part is fetched twice, the
    // small parts all at once rather than one round trip after another.
    expect(partsRead).toBe(3);
    expect(gets).toBe(6);
    expect(mostWaiting).toBeGreaterThanOrEqual(3);
    const rows = await reader(new UndatedRowsCache()).rows('products', undefined, [
      'id',
      'category',
    ]);
    expect(rows.id).toHaveLength(4);
    expect(Object.fromEntries(rows.id!.map((id, i) => [id, rows.category![i]]))).toEqual(byId);
  });

  it("reads a single run's parts once, as they are (a committed run holds each key once)", async () => {
    for (const part of [0, 1]) {
      await commitOrdersPart(
        'run-o',
        '2024-05-01',
        part,
        part === 0 ? [10, 11] : [12],
        completeOrder('run-o', '2024-05-01', part, 5_000, (orderId) => orderId * 100),
      );
    }
    const { batches, gets, partsRead } = await readBatches('orders', ['user_id', 'order_id']);
    expect(batches).toHaveLength(2);
    expect(batches.flatMap((b) => b.order_id).sort()).toEqual([10, 11, 12]);
    expect(batches.flatMap((b) => b.user_id).sort()).toEqual([1000, 1100, 1200]);
    expect(gets).toBe(2);
    expect(partsRead).toBe(2);
  });

  it("reads a large part as its footer and then only the wanted columns' chunks, the same rows", async () => {
    const date = '2024-06-01';
    // Two runs of the day: run-r2 re-sends every third order with another status (a later load).
    const commitOrders = (runId: string, loadedAt: number, ids: number[]) =>
      commitOrdersPart(
        runId,
        date,
        0,
        ids,
        (name, id, row) =>
          ({
            order_id: id,
            user_id: id % 997,
            status: runId === 'run-r1' ? 'complete' : 'returned',
            created_at: Date.UTC(2024, 5, 1, 12) + id,
            shipped_at: Date.UTC(2024, 5, 2, 12) + id * 7,
            num_of_item: id % 4,
            _run_id: runId,
            _loaded_at: loadedAt,
            _source_file: `${runId}.csv`,
            _source_row: row + 2,
          })[name] ?? null,
      );
    const ids = Array.from({ length: 20_000 }, (_, i) => 100_000 + i);
    await commitOrders('run-r1', 7_000, ids);
    await commitOrders(
      'run-r2',
      8_000,
      ids.filter((id) => id % 3 === 0),
    );

    let gets = 0;
    let rangedBytes = 0;
    const counting = withGet(async (key: string) => {
      gets += 1;
      return t.store.get(key);
    });
    counting.getRange = async (key: string, start: number, end: number) => {
      const bytes = await t.store.getRange(key, start, end);
      rangedBytes += bytes.byteLength;
      return bytes;
    };
    const read = async (store: typeof t.store, wholePartBytes?: number) => {
      const r = new ValidatedReader(store, thelook, new CommittedRuns(t.store), undefined, {
        ...(wholePartBytes !== undefined ? { wholePartBytes } : {}),
      });
      const statusOf = new Map<Value, Value>();
      for await (const batch of r.batches('orders', date, ['order_id', 'status'])) {
        batch.order_id!.forEach((id, i) => statusOf.set(id, batch.status![i]!));
      }
      return statusOf;
    };
    const ranged = await read(counting, 0);
    expect(gets).toBe(0);
    const partBytes = (await listAll(t.store, `validated/thelook/orders/date=${date}/`)).reduce(
      (sum, o) => sum + o.size,
      0,
    );
    // Both passes (keys and versions, then the wanted columns) read less than the parts hold;
    // whole, each part is read twice.
    expect(rangedBytes).toBeGreaterThan(0);
    expect(rangedBytes).toBeLessThan(partBytes);
    expect(ranged.size).toBe(ids.length);
    for (const id of ids) expect(ranged.get(id)).toBe(id % 3 === 0 ? 'returned' : 'complete');
    // The same rows as whole parts give.
    expect(await read(t.store)).toEqual(ranged);
  });

  it("starts fetching a date's parts when asked, before its first batch is taken", async () => {
    const date = '2024-07-01';
    await commitSmallOrders('run-p', date, 3, 9_000, 7);
    const fetched: string[] = [];
    let allFetched: () => void;
    const all = new Promise<void>((resolve) => (allFetched = resolve));
    const counting = withGet(async (key: string) => {
      fetched.push(key);
      if (fetched.length === 3) allFetched();
      return t.store.get(key);
    });
    const r = new ValidatedReader(counting, thelook, new CommittedRuns(t.store));
    const batches = r.batches('orders', date, ['order_id']);
    // Not iterated yet: a compute-kpi period waiting for its turn to fold is in this state, and
    // its parts (small ones: all three fit the fetch-ahead budget) are already on their way.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), 10_000);
    });
    expect(await Promise.race([all.then(() => 'fetched' as const), timeout])).toBe('fetched');
    clearTimeout(timer);
    const ids: Value[] = [];
    for await (const batch of batches) ids.push(...batch.order_id!);
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 10, 11, 20, 21]);
    expect(fetched).toHaveLength(3); // each part once
  });

  it("lists a window's date prefixes several at once, its rows still in date order", async () => {
    const dates = Array.from({ length: 20 }, (_, i) => `2024-10-${String(i + 1).padStart(2, '0')}`);
    for (const [i, date] of dates.entries()) {
      await commitOrdersPart(
        'run-m',
        date,
        0,
        [1000 + i],
        completeOrder('run-m', date, 0, 11_000, () => 3),
      );
    }
    let listing = 0;
    let most = 0;
    // Every listing is a 20 ms round trip, as on S3.
    const slowLists = Object.assign(Object.create(t.store) as typeof t.store, {
      list: async function* (prefix: string) {
        listing += 1;
        most = Math.max(most, listing);
        await new Promise((r) => setTimeout(r, 20));
        listing -= 1;
        yield* t.store.list(prefix);
      },
    });
    const r = new ValidatedReader(slowLists, thelook, new CommittedRuns(t.store));
    const rows = await r.rows('orders', dates, ['order_id', 'created_at']);
    expect(rows.order_id).toEqual(dates.map((_, i) => 1000 + i));
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(16);
  });

  it("fetches a waiting period's parts only as the thread's budget allows, its catalogue regardless", async () => {
    const date = '2024-08-01';
    await commitSmallOrders('run-q', date, 3, 9_500, 3);
    const gets: string[] = [];
    const counting = withGet(async (key: string) => {
      gets.push(key);
      return t.store.get(key);
    });
    const budget = new PrefetchBudget(1);
    // Another waiting period holds the whole budget.
    const held = await budget.admitter(new Promise<void>(() => undefined))(1);
    let give!: () => void;
    const turn = new Promise<void>((resolve) => (give = resolve));
    let asked!: () => void;
    const firstAsked = new Promise<void>((resolve) => (asked = resolve));
    const admit = budget.admitter(turn);
    const r = new ValidatedReader(counting, thelook, new CommittedRuns(t.store), undefined, {
      admit: (bytes) => (asked(), admit(bytes)),
    });
    // The catalogue is shared with the thread's other periods (one of which may be the one this
    // waits for), so it is read without waiting for room.
    const catalogue = await r.rows('products', undefined, ['id', 'category']);
    expect(catalogue.id).toEqual(expect.arrayContaining([1, 2]));
    const batches = r.batches('orders', date, ['order_id']);
    await firstAsked;
    await new Promise((resolve) => setImmediate(resolve));
    expect(gets.filter((k) => k.includes('/orders/'))).toEqual([]);
    give();
    const ids: Value[] = [];
    for await (const batch of batches) ids.push(...batch.order_id!);
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 10, 11, 20, 21]);
    expect(gets.filter((k) => k.includes('/orders/'))).toHaveLength(3);
    // Every part handed out gave its bytes back; only the other period's remain.
    expect(budget.inUse).toBe(1);
    held();
  });

  it("frees each part's bytes once its rows are read, unless they share a buffer", async () => {
    const date = '2024-09-01';
    await commitSmallOrders('run-s', date, 2, 9_700, 4);
    const returned: Uint8Array[] = [];
    const store = withGet(async (key: string) => {
      const bytes = await t.store.get(key);
      // The second part comes as a view into a larger buffer (as a pooled Buffer would).
      const shared = returned.length === 1;
      // The first comes in a buffer of its own (a small S3 body may share Buffer's pool).
      const out = shared ? new Uint8Array(bytes.byteLength + 8).subarray(8) : new Uint8Array(bytes);
      if (shared) out.set(bytes);
      returned.push(out);
      return out;
    });
    const r = new ValidatedReader(store, thelook, new CommittedRuns(t.store));
    const ids: Value[] = [];
    for await (const batch of r.batches('orders', date, ['order_id'])) ids.push(...batch.order_id!);
    expect(ids.sort((a, b) => Number(a) - Number(b))).toEqual([0, 1, 10, 11]);
    expect(returned).toHaveLength(2);
    expect(returned[0]!.byteLength).toBe(0); // detached: its memory is freed without a full GC
    expect(returned[1]!.byteLength).toBeGreaterThan(0);
  });
});
