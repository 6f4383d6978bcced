import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { bufferOf, readParquet } from '../../src/formats/parquet.js';
import { listAll } from '../../src/ports/object-store.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { sample, writeBatch } from './scenario.js';

/**
 * Held rows are released once. A released row is stored under the releasing run with the load
 * time of the run that held it; a later run must recognise it as released even when the holding
 * run's id sorts after the releasing run's (run ids start with the batch name, so the batches
 * here are named to make it so), and must not release, count or re-date it again.
 */
describe('rows held by one run and released by another', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => t.stop());

  async function storedItemRows(): Promise<number> {
    let rows = 0;
    for (const o of await listAll(t.store, 'validated/thelook/order_items/')) {
      for await (const cols of readParquet(bufferOf(await t.store.get(o.key)), { columns: ['id'] }))
        rows += cols.id!.length;
    }
    return rows;
  }

  it('are released by the run that brings their parents, and by no later run', async () => {
    const items = sample.items();
    const products = sample.products();
    const held = await t.load(
      'thelook',
      'zz-items-first',
      writeBatch({ 'products.csv': products, 'order_items/order_items.csv': items }),
    );
    expect(held[1]!.entities!.order_items).toMatchObject({ rowsIn: 422, held: 422, valid: 0 });

    const releasing = await t.load(
      'thelook',
      'aa-orders-later',
      writeBatch({ 'orders/orders.csv': sample.orders() }),
    );
    expect(releasing[1]!.entities!.order_items).toMatchObject({ released: 422 });
    expect(releasing[0]!.runId < held[0]!.runId).toBe(true);
    expect(await storedItemRows()).toBe(422);

    // A later batch re-sending the products: nothing held is left to release.
    const later = await t.load(
      'thelook',
      'mm-products-again',
      writeBatch({ 'products.csv': products }),
    );
    expect(later.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    expect(later[1]!.entities!.order_items).toMatchObject({ rowsIn: 0, released: 0 });
    expect(later[1]!.datesTouched).toEqual([]);
    expect(await storedItemRows()).toBe(422);
  });
});
