import { describe, expect, it } from '@jest/globals';
import type { Columns } from '../../src/formats/parquet.js';
import { thelook } from '../../src/profiles/thelook/index.js';
import type { KpiInput } from '../../src/profiles/types.js';

/**
 * thelook's day KPIs from rows handed to it directly (no store), in batches of every size, against
 * values worked out by hand: the fold must not depend on how the rows are cut.
 */

const DATE = '2024-05-01';

/** A KpiInput over fixed rows; `batches` cuts each entity's rows into pieces of `size`. */
function input(rows: Record<string, Columns>, size: number): KpiInput {
  const pick = (entity: string, columns?: readonly string[]): Columns => {
    const all = rows[entity]!;
    return Object.fromEntries((columns ?? Object.keys(all)).map((c) => [c, all[c]!]));
  };
  return {
    timeZone: 'UTC',
    options: {},
    rows: (entity, _dates, columns) => Promise.resolve(pick(entity, columns)),
    async *batches(entity, _dates, columns) {
      const all = pick(entity, columns);
      const length = Object.values(all)[0]!.length;
      for (let start = 0; start < length; start += size) {
        yield Object.fromEntries(
          Object.entries(all).map(([c, values]) => [c, values.slice(start, start + size)]),
        );
      }
    },
  };
}

/** Orders 1-3 on the day (order 3 returned), items of orders 1-3 and of order 9 (another day's). */
function day(productIds: [number, number]): Record<string, Columns> {
  const [jeans, tops] = productIds;
  return {
    products: { id: [jeans, tops], category: ['Jeans', 'Tops'] },
    orders: {
      order_id: [1, 2, 3],
      status: ['complete', 'shipped', 'returned'],
      user_id: [10, 10, 11],
    },
    order_items: {
      order_id: [1, 1, 2, 3, 3, 9],
      sale_price: [10.1, 5.05, 20, 7.5, 2.25, 99],
      status: ['complete', 'complete', 'shipped', 'returned', 'complete', 'complete'],
      // order 3's second item is of a product the catalogue does not list
      product_id: [jeans, tops, jeans, tops, 424242, jeans],
    },
  };
}

describe("thelook's day fold", () => {
  for (const [label, ids] of [
    ['small ids (an array lookup)', [3, 7]],
    ['sparse ids (a Map lookup)', [5, 2 ** 40]],
  ] as const) {
    it(`computes a day's KPIs by hand's figures whatever the batch size, ${label}`, async () => {
      for (const size of [1, 2, 4, 100]) {
        const kpis = await thelook.computeKpis(input(day([...ids]), size), DATE, {
          date: DATE,
          period: 'day',
          timeZone: 'UTC',
          start: Date.UTC(2024, 4, 1),
          end: Date.UTC(2024, 4, 2),
          dates: [DATE],
          kpis: thelook.kpis,
        });
        expect({ size, daily: kpis.daily }).toEqual({
          size,
          daily: [
            {
              order_date: DATE,
              total_orders: 3,
              total_revenue: 44.9, // 10.10 + 5.05 + 20 + 7.50 + 2.25; order 9 is not this day's
              net_revenue: 37.4, // without the returned 7.50
              total_items_sold: 5,
              return_rate: 1 / 3,
              unique_customers: 2,
            },
          ],
        });
        expect({ size, categories: kpis.category_daily }).toEqual({
          size,
          categories: [
            {
              category: 'Jeans',
              order_date: DATE,
              daily_revenue: 30.1,
              net_revenue: 30.1,
              orders: 2,
              items: 2,
              avg_order_value: 30.1 / 2,
              avg_return_rate: 0,
            },
            {
              category: 'Tops',
              order_date: DATE,
              daily_revenue: 12.55,
              net_revenue: 5.05,
              orders: 2,
              items: 2,
              avg_order_value: 12.55 / 2,
              avg_return_rate: 1 / 2,
            },
            {
              category: 'unknown',
              order_date: DATE,
              daily_revenue: 2.25,
              net_revenue: 2.25,
              orders: 1,
              items: 1,
              avg_order_value: 2.25,
              avg_return_rate: 0,
            },
          ],
        });
      }
    });
  }
});
