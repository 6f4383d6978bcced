import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  getInOrder,
  listAll,
  type FetchAhead,
  type ObjectInfo,
  type ObjectStore,
} from '../../src/ports/object-store.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

describe('getInOrder (objects read in order, fetched ahead)', () => {
  let t: TestRuntime;
  let objects: ObjectInfo[];

  beforeAll(async () => {
    t = await startTestRuntime();
    // 40 objects of 1 KB, then 4 of 64 KB.
    for (let i = 0; i < 44; i++) {
      const key = `ahead/part-${String(i).padStart(3, '0')}`;
      await t.store.put(key, Buffer.alloc(i < 40 ? 1024 : 64 * 1024, i));
    }
    objects = await listAll(t.store, 'ahead/');
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  /** The local S3 store, its GETs in flight counted, each held until `release` is called. */
  function watched() {
    const state = { inFlight: 0, most: 0, started: [] as string[] };
    const waiting: (() => void)[] = [];
    const store = Object.create(t.store) as ObjectStore;
    store.get = async (key: string) => {
      state.started.push(key);
      state.inFlight += 1;
      state.most = Math.max(state.most, state.inFlight);
      await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await t.store.get(key);
      } finally {
        state.inFlight -= 1;
      }
    };
    /** Lets every GET waiting so far go on. */
    const release = () => waiting.splice(0).forEach((go) => go());
    return { store, state, release };
  }

  async function readAll(store: ObjectStore, list: ObjectInfo[], ahead?: FetchAhead) {
    const read: { key: string; first: number; size: number }[] = [];
    for await (const { object, fetched: bytes } of getInOrder(store, list, ahead)) {
      read.push({ key: object.key, first: bytes[0]!, size: bytes.byteLength });
    }
    return read;
  }

  it('hands out every object once, in the order given, with its own bytes', async () => {
    const { store, release } = watched();
    const timer = setInterval(release, 5);
    const reversed = [...objects].reverse();
    const read = await readAll(store, reversed).finally(() => clearInterval(timer));
    expect(read.map((r) => r.key)).toEqual(reversed.map((o) => o.key));
    read.forEach((r, i) => {
      expect(r.first).toBe(43 - i);
      expect(r.size).toBe(43 - i < 40 ? 1024 : 64 * 1024);
    });
  });

  it('has several GETs in flight before the first object arrives, no more than maxObjects', async () => {
    const { store, state, release } = watched();
    const reading = readAll(store, objects, { maxObjects: 8 });
    // Nothing has arrived yet: what is in flight is the read-ahead.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(state.inFlight).toBe(8);
    const timer = setInterval(release, 2);
    await reading.finally(() => clearInterval(timer));
    expect(state.most).toBe(8);
    expect(state.started).toEqual(objects.map((o) => o.key));
  });

  it('fetches ahead by bytes, and always at least minObjects', async () => {
    const { store, state, release } = watched();
    const large = objects.slice(40); // 4 x 64 KB
    const reading = readAll(store, large, { bytes: 100 * 1024, minObjects: 2 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Two by minObjects although 128 KB is over the budget; not the third.
    expect(state.inFlight).toBe(2);
    const timer = setInterval(release, 2);
    await reading.finally(() => clearInterval(timer));
    expect(state.most).toBe(2);
  });

  it("fails with a GET's error in that object's turn", async () => {
    const list = [...objects.slice(0, 3), { key: 'ahead/missing', size: 10, etag: 'x' }];
    const read: string[] = [];
    await expect(
      (async () => {
        for await (const { object } of getInOrder(t.store, list)) read.push(object.key);
      })(),
    ).rejects.toThrow(/missing/);
    expect(read).toEqual(objects.slice(0, 3).map((o) => o.key));
  });
});
