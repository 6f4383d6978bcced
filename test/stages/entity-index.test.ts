import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { layout } from '../../src/contracts/layout.js';
import { ParquetFileWriter, type Value } from '../../src/formats/parquet.js';
import { putJson, type ObjectStore } from '../../src/ports/object-store.js';
import { getProfile } from '../../src/profiles/registry.js';
import { CommittedRuns } from '../../src/stages/committed-runs.js';
import {
  loadKeyIndex,
  type KeyIndexOptions,
  type WantedKeys,
} from '../../src/stages/entity-index.js';
import { DenseKeyVersions, KeySet, KeyVersionTable } from '../../src/stages/key-table.js';
import { validatedSchema } from '../../src/stages/validate.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

const orders = getProfile('thelook').entities.find((e) => e.name === 'orders')!;

/** The bytes the store's GETs returned, per key (the local S3 server's answers). */
function countingStore(store: ObjectStore): { store: ObjectStore; bytes: Map<string, number> } {
  const bytes = new Map<string, number>();
  const count = async (key: string, read: Promise<Uint8Array>) => {
    const got = await read;
    bytes.set(key, (bytes.get(key) ?? 0) + got.byteLength);
    return got;
  };
  return {
    bytes,
    store: Object.assign(Object.create(store) as ObjectStore, {
      get: (key: string) => count(key, store.get(key)),
      getRange: (key: string, start: number, end: number) =>
        count(key, store.getRange(key, start, end)),
    }),
  };
}

describe('loadKeyIndex', () => {
  let t: TestRuntime;
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-index-'));
  const schema = validatedSchema(orders);
  const keys: Record<string, string> = {};

  /** A committed orders part of `date` holding `ids`, loaded at `loadedAt`. */
  async function commitOrders(runId: string, date: string, ids: number[], loadedAt: number) {
    const path = join(dir, `${runId}-${date}.parquet`);
    const writer = new ParquetFileWriter(path, schema);
    const valueOf = (name: string, id: number, row: number): Value =>
      ({
        order_id: id,
        user_id: id * 10,
        status: 'complete',
        created_at: Date.parse(`${date}T12:00:00Z`),
        _run_id: runId,
        _loaded_at: loadedAt,
        _source_file: 'orders.csv',
        _source_row: row + 2,
      })[name] ?? null;
    writer.write(
      Object.fromEntries(
        schema.map((c) => [c.name, ids.map((id, row) => valueOf(c.name, id, row))]),
      ),
    );
    writer.close();
    const key = layout.partKey(
      layout.runOutputPrefix('validated', 'thelook', 'orders', runId, date),
      0,
    );
    await t.store.putFile(key, path);
    await putJson(t.store, layout.stageReport(runId, 'validate'), { status: 'SUCCEEDED' });
    keys[`${runId}/${date}`] = key;
  }

  const range = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => from + i);

  beforeAll(async () => {
    t = await startTestRuntime();
    await commitOrders('run-a', '2024-01-01', range(1, 100), 1_000);
    await commitOrders('run-a', '2024-01-02', range(101, 200), 1_000);
    // A later run: new orders, and order 150 re-sent with a later date.
    await commitOrders('run-b', '2024-01-03', [...range(201, 300), 150], 2_000);
    // A part whose other columns (user ids) outweigh its key and version columns.
    await commitOrders('run-c', '2024-01-04', range(1_001, 41_000), 3_000);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const wantedOf = (...ids: number[]) => {
    const set = new KeySet();
    for (const id of ids) set.add(id);
    return set;
  };

  /** loadKeyIndex of thelook's orders for a run `run-now` (or `excluding`), over `store`. */
  const ordersIndex = (
    store: ObjectStore,
    only?: WantedKeys,
    options?: KeyIndexOptions,
    excluding = 'run-now',
  ) =>
    loadKeyIndex(
      store,
      'thelook',
      'orders',
      ['order_id'],
      excluding,
      new CommittedRuns(store),
      only,
      options,
    );

  it('keeps only the wanted keys, at their latest versions', async () => {
    const index = await ordersIndex(t.store, () => Promise.resolve(wantedOf(150, 250, 999)));
    expect(index.get(150)).toEqual({ date: '2024-01-03', loadedAt: 2_000, runId: 'run-b' });
    expect(index.get(250)).toEqual({ date: '2024-01-03', loadedAt: 2_000, runId: 'run-b' });
    expect(index.has(999)).toBe(false);
    expect(index.has(1)).toBe(false);
  });

  it('asks for the wanted keys once filterAfter keys are indexed, and filters those too', async () => {
    let asked = 0;
    const only = () => (asked++, Promise.resolve(wantedOf(5, 150, 250, 999)));
    // Parts are read in key order: run-a's two days (200 keys) come before the question.
    const index = await ordersIndex(t.store, only, { filterAfter: 150 });
    expect(asked).toBe(1);
    expect(index.size).toBe(3);
    expect(index.get(5)).toEqual({ date: '2024-01-01', loadedAt: 1_000, runId: 'run-a' });
    expect(index.get(150)).toEqual({ date: '2024-01-03', loadedAt: 2_000, runId: 'run-b' });
    expect(index.get(250)?.runId).toBe('run-b');
    expect(index.has(1)).toBe(false);
    expect(index.has(5_000)).toBe(false);
  });

  it('indexes wanted integer ids that fill their range densely, with the same answers', async () => {
    // Ids 100-300 (run-a's second day, run-b re-sending 150) and 1,001-1,100 (run-c): 301 ids
    // over a range of 1,001, within four slots a key.
    const ids = [...range(100, 300), ...range(1_001, 1_100)];
    const wanted = wantedOf(...ids);
    const index = await ordersIndex(t.store, () =>
      Promise.resolve({
        has: (key) => wanted.has(key),
        size: wanted.size,
        range: { first: 100, last: 1_100 },
      }),
    );
    expect(index).toBeInstanceOf(DenseKeyVersions);
    expect(index.size).toBe(ids.length);
    const hashed = await ordersIndex(t.store, () => Promise.resolve(wantedOf(...ids)));
    expect(hashed).toBeInstanceOf(KeyVersionTable);
    for (const id of [...ids, 1, 99, 301, 1_000, 1_101, 5_000])
      expect(index.get(id)).toEqual(hashed.get(id));
    expect(index.get(150)).toEqual({ date: '2024-01-03', loadedAt: 2_000, runId: 'run-b' });
    expect(index.get(100)).toEqual({ date: '2024-01-01', loadedAt: 1_000, runId: 'run-a' });
    // Spread thinner than one id in four slots: a hash table.
    const sparse = await ordersIndex(t.store, () =>
      Promise.resolve({
        has: (k) => k === 1 || k === 5_000,
        size: 2,
        range: { first: 1, last: 5_000 },
      }),
    );
    expect(sparse).toBeInstanceOf(KeyVersionTable);
    expect(sparse.get(5_000)?.runId).toBe('run-c');
  });

  it('never asks for the wanted keys when the history stays under filterAfter', async () => {
    let asked = 0;
    const only = () => (asked++, Promise.resolve(wantedOf(150)));
    const index = await ordersIndex(t.store, only, { filterAfter: 1_000_000 });
    expect(asked).toBe(0);
    expect(index.size).toBe(300 + 40_000);
    expect(index.get(150)?.runId).toBe('run-b');
    expect(index.get(5_000)?.runId).toBe('run-c');
  });

  it('reads every key when none are named, and no earlier attempt of the run itself', async () => {
    // As if run-b were validating again.
    const all = await ordersIndex(t.store, undefined, {}, 'run-b');
    expect(all.get(1)).toEqual({ date: '2024-01-01', loadedAt: 1_000, runId: 'run-a' });
    expect(all.get(150)).toEqual({ date: '2024-01-02', loadedAt: 1_000, runId: 'run-a' });
    expect(all.has(250)).toBe(false);
  });

  it('reads no part of a run the caller rules out', async () => {
    const { store, bytes } = countingStore(t.store);
    const asked: string[] = [];
    const index = await ordersIndex(store, undefined, {
      runs: (id) => (asked.push(id), Promise.resolve(id !== 'run-a')),
    });
    expect(index.has(1)).toBe(false);
    expect(index.get(250)?.runId).toBe('run-b');
    expect(bytes.has(keys['run-a/2024-01-01']!)).toBe(false);
    expect(bytes.has(keys['run-a/2024-01-02']!)).toBe(false);
    expect(asked.sort()).toEqual(['run-a', 'run-b', 'run-c']); // once a run, not once a part
  });

  it('fetches only the key and version columns of a part read by ranges', async () => {
    const { store, bytes } = countingStore(t.store);
    const by = (wholePartBytes: number) => ordersIndex(store, undefined, { wholePartBytes });
    const key = keys['run-c/2024-01-04']!;
    const size = (await t.store.head(key))!.size;
    const whole = await by(Number.MAX_SAFE_INTEGER);
    expect(bytes.get(key)).toBe(size);
    bytes.clear();
    const ranged = await by(0);
    expect(bytes.get(key)).toBeLessThan(size / 2);
    expect(ranged.get(5_000)).toEqual(whole.get(5_000));
    expect(ranged.get(5_000)).toEqual({ date: '2024-01-04', loadedAt: 3_000, runId: 'run-c' });
  });
});
