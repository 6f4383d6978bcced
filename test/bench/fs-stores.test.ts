import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { NotFoundError } from '../../src/errors.js';
import { listAll, openStore } from '../../src/ports/object-store.js';
import { MemoryHistoryStore, MemoryKpiStore } from './fs-stores.js';
import type { Invoice } from '../../src/ports/history-store.js';
import { DelayedObjectStore, FsObjectStore } from './object-stores.js';

const root = mkdtempSync(join(tmpdir(), 'cartpipe-fs-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('local-folder ObjectStore used by the benchmark', () => {
  const store = new FsObjectStore(join(root, 'store'));

  it('lists every key starting with the prefix, in byte order, like S3', async () => {
    for (const key of ['v/a/date=2/x', 'v/a/date=10/x', 'v/ab/y', 'v/a/date=1/x', 'w/z'])
      await store.put(key, key);
    const keys = async (prefix: string) => (await listAll(store, prefix)).map((o) => o.key);
    expect(await keys('v/a/')).toEqual(['v/a/date=1/x', 'v/a/date=10/x', 'v/a/date=2/x']);
    expect(await keys('v/a')).toEqual(['v/a/date=1/x', 'v/a/date=10/x', 'v/a/date=2/x', 'v/ab/y']);
    expect(await keys('v/a/date=1')).toEqual(['v/a/date=1/x', 'v/a/date=10/x']);
    expect(await keys('nothing/')).toEqual([]);
  });

  it('gets, streams, copies files in, deletes, and counts reads by area', async () => {
    const source = join(root, 'part.bin');
    writeFileSync(source, 'parquet bytes');
    const info = await store.putFile('validated/t/e/part-0', source);
    expect(info.size).toBe(13);
    expect(Buffer.from(await store.get('validated/t/e/part-0')).toString()).toBe('parquet bytes');
    const chunks: Buffer[] = [];
    for await (const c of await store.stream('validated/t/e/part-0')) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('parquet bytes');
    expect(store.reads['validated/']).toEqual({ objects: 2, bytes: 26 });
    expect(Buffer.from(await store.getRange('validated/t/e/part-0', 8, 100)).toString()).toBe(
      'bytes',
    );
    expect(Buffer.from(await store.getRange('validated/t/e/part-0', 0, 7)).toString()).toBe(
      'parquet',
    );
    // An object read by ranges counts once, its bytes as read.
    expect(store.reads['validated/']).toEqual({ objects: 3, bytes: 38 });
    await store.delete(['validated/t/e/part-0']);
    expect(await store.head('validated/t/e/part-0')).toBeUndefined();
    await expect(store.get('validated/t/e/part-0')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.stream('missing')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.getRange('missing', 0, 1)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('opens again in another thread over the same folder, counting reads into the same tally', async () => {
    const first = new FsObjectStore(join(root, 'shared'));
    await first.put('validated/t/a', 'abc');
    const again = await openStore(structuredClone(first.opener));
    expect(again).toBeInstanceOf(FsObjectStore);
    expect(Buffer.from(await again.get('validated/t/a')).toString()).toBe('abc');
    await first.get('validated/t/a');
    await again.get('runs/none').catch(() => undefined);
    expect(first.reads).toEqual({ 'validated/': { objects: 2, bytes: 6 } });
    expect((again as FsObjectStore).reads).toEqual(first.reads);
    const delayed = new DelayedObjectStore(first, 1);
    const delayedAgain = (await openStore(structuredClone(delayed.opener!))) as DelayedObjectStore;
    expect(Buffer.from(await delayedAgain.get('validated/t/a')).toString()).toBe('abc');
    await delayed.head('validated/t/a');
    expect(delayed.calls).toBe(2);
    expect(delayedAgain.calls).toBe(2);
    // A store without an opener gives its delayed wrapper none.
    expect(new DelayedObjectStore({ ...first, opener: undefined } as never, 1).opener).toBe(
      undefined,
    );
  });

  it('settles each call after a turn of the event loop, as a request does', async () => {
    await store.put('validated/t/turn', 'x');
    const order: string[] = [];
    const queuedBefore = new Promise<void>((resolve) =>
      setImmediate(() => {
        order.push('queued before');
        resolve();
      }),
    );
    const read = store.get('validated/t/turn').then(() => order.push('get'));
    await Promise.all([queuedBefore, read]);
    expect(order).toEqual(['queued before', 'get']);
  });

  it('refuses keys that climb out of the folder', async () => {
    await expect(store.put('a/../../etc', 'x')).rejects.toThrow(/escapes/);
  });
});

describe('store with a latency added to every call', () => {
  it('waits the latency before each call reaches the store, a listing once, and counts the calls', async () => {
    const events: string[] = [];
    const inner = new FsObjectStore(join(root, 'delayed'));
    const sleep = async (ms: number) => {
      events.push(`sleep ${ms}`);
    };
    const traced = new Proxy(inner, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          events.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const store = new DelayedObjectStore(traced, 15, sleep);
    await store.put('a/1', 'x');
    await store.put('a/2', 'yy');
    expect(Buffer.from(await store.get('a/2')).toString()).toBe('yy');
    expect((await listAll(store, 'a/')).map((o) => o.key)).toEqual(['a/1', 'a/2']);
    await store.delete(['a/1']);
    expect(await store.head('a/1')).toBeUndefined();
    expect(events).toEqual([
      'sleep 15',
      'put',
      'sleep 15',
      'put',
      'sleep 15',
      'get',
      'sleep 15',
      'list',
      'sleep 15',
      'delete',
      'sleep 15',
      'head',
    ]);
    expect(store.calls).toBe(6);
    expect(store.bucket).toBe(inner.bucket);
  });
});

describe('in-memory KpiStore used by the benchmark', () => {
  it('replaces whole dates and lists by date', async () => {
    const kpis = new MemoryKpiStore();
    const set = (date: string, rows: { n: number }[]) =>
      kpis.replaceDate({ dataset: 'd', kpi: 'k', date, groupBy: [], rows });
    await set('2025-01-02', [{ n: 2 }]);
    await set('2025-01-01', [{ n: 1 }, { n: 9 }]);
    await set('2025-01-01', [{ n: 1 }]);
    expect(await kpis.list('d', 'k')).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await kpis.list('d', 'other')).toEqual([]);
  });

  it('counts rows per KPI without keeping them, whole dates replaced', async () => {
    const kpis = new MemoryKpiStore(false);
    const set = (kpi: string, date: string, n: number) =>
      kpis.replaceDate({ dataset: 'd', kpi, date, groupBy: [], rows: Array(n).fill({ n: 1 }) });
    await set('a', '2025-01-01', 3);
    await set('a', '2025-01-02', 4);
    await set('a', '2025-01-01', 1);
    await set('b', '2025-01-01', 2);
    expect(kpis.counts('d')).toEqual({ a: 5, b: 2 });
    expect(kpis.counts('other')).toEqual({});
  });
});

describe('in-memory KpiStore with a latency', () => {
  it("waits DynamoDB's round trips in turn: the lease taken, a date's rows queried and written, the lease released", async () => {
    const events: string[] = [];
    const kpis = new MemoryKpiStore(true, 7, async (ms) => {
      events.push(`sleep ${ms}`);
    });
    const stored = await kpis.withDateLease('d', '2025-01-01', 'run', async () => {
      events.push('work');
      await kpis.replaceDate({ dataset: 'd', kpi: 'k', date: '2025-01-01', groupBy: [], rows: [] });
      events.push('replaced');
      return 'done';
    });
    expect(stored).toBe('done');
    expect(events).toEqual(['sleep 7', 'work', 'sleep 7', 'sleep 7', 'replaced', 'sleep 7']);
    expect(kpis.calls).toBe(4);
    // Without a latency nothing waits and nothing is counted.
    const quick = new MemoryKpiStore(true, 0, () => Promise.reject(new Error('slept')));
    await quick.withDateLease('d', '2025-01-01', 'run', () =>
      quick.replaceDate({ dataset: 'd', kpi: 'k', date: '2025-01-01', groupBy: [], rows: [] }),
    );
    expect(quick.calls).toBe(0);
  });
});

describe('in-memory HistoryStore used by the benchmark', () => {
  const invoice = (invoiceNo: string, customerId: string | null, lines: number): Invoice => ({
    invoiceNo,
    invoiceDate: `2010-12-0${invoiceNo.slice(-1)}T10:00:00.000Z`,
    customerId,
    country: 'United Kingdom',
    kind: 'sale',
    lines,
    quantity: lines,
    total: lines,
    items: Array.from({ length: lines }, (_, i) => ({
      line: i + 1,
      stockCode: 'X',
      description: null,
      quantity: 1,
      unitPrice: 1,
      amount: 1,
      flags: '',
    })),
  });

  it("replaces a date's invoices, counts the items DynamoDB would hold, and finds them", async () => {
    const history = new MemoryHistoryStore();
    // A header, the lines, the customer's entry (when there is a customer) and the date's.
    expect(await history.replaceDate('2010-12-02', [invoice('2', 'c1', 3)])).toBe(6);
    expect(
      await history.replaceDate('2010-12-01', [invoice('1', 'c1', 1), invoice('3', null, 2)]),
    ).toBe(4 + 4);
    expect((await history.customerInvoices('c1')).map((i) => i.invoiceNo)).toEqual(['1', '2']);
    expect((await history.invoice('3'))?.items).toHaveLength(2);
    await history.replaceDate('2010-12-01', []);
    expect(await history.invoice('3')).toBeUndefined();
  });
});
