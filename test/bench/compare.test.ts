import { describe, expect, it } from '@jest/globals';
import { compareCounts, compareKpiRows } from './compare.js';

const day = {
  order_date: '2025-01-01',
  total_orders: 10,
  total_revenue: 1234.56,
  net_revenue: 1000.01,
  total_items_sold: 30,
  return_rate: 0.2,
  unique_customers: 9,
};

describe('benchmark correctness check', () => {
  it('accepts rows equal to the cent and to 1e-6, whatever the number types', () => {
    const reference = [{ ...day, total_orders: '10', return_rate: 0.2000000004 }];
    expect(compareKpiRows('daily', [day], reference).mismatchCount).toBe(0);
  });

  it('flags a sum one cent off, a count off by one, a missing and an extra date', () => {
    const ours = [
      { ...day, total_revenue: 1234.57 },
      { ...day, order_date: '2025-01-02', total_items_sold: 31 },
      { ...day, order_date: '2025-01-09' },
    ];
    const reference = [
      day,
      { ...day, order_date: '2025-01-02' },
      { ...day, order_date: '2025-01-03' },
    ];
    const result = compareKpiRows('daily', ours, reference);
    expect(result.mismatchCount).toBe(4);
    expect(result.mismatches.join('\n')).toMatch(/2025-01-01: total_revenue 1234.57/);
    expect(result.mismatches.join('\n')).toMatch(/2025-01-02: total_items_sold 31/);
    expect(result.mismatches.join('\n')).toMatch(/2025-01-09: not in the reference/);
    expect(result.mismatches.join('\n')).toMatch(/2025-01-03: missing/);
  });

  it('lets an average of money round a half cent either way, not more', () => {
    const row = {
      category: 'Books',
      order_date: '2025-01-01',
      daily_revenue: 10.01,
      net_revenue: 10.01,
      orders: 2,
      items: 2,
      avg_order_value: 5.0,
      avg_return_rate: 0,
    };
    expect(
      compareKpiRows('category_daily', [row], [{ ...row, avg_order_value: 5.01 }]).mismatchCount,
    ).toBe(0);
    expect(
      compareKpiRows('category_daily', [row], [{ ...row, avg_order_value: 5.02 }]).mismatchCount,
    ).toBe(1);
  });

  it('compares validation counts entity by entity and reason by reason', () => {
    const counts = {
      rowsIn: 10,
      valid: 7,
      rejected: 2,
      duplicatesDropped: 1,
      held: 0,
      rejectsByReason: { ragged_row: 1, 'not_in_enum:status': 1 },
    };
    expect(compareCounts({ orders: counts }, { orders: { ...counts } }).mismatchCount).toBe(0);
    const other = { ...counts, rejectsByReason: { ragged_row: 2 } };
    const result = compareCounts({ orders: counts }, { orders: other, products: counts });
    expect(result.mismatches).toEqual([
      'orders rejected for ragged_row: 1 vs reference 2',
      'orders rejected for not_in_enum:status: 1 vs reference 0',
      'products: only in the reference',
    ]);
  });
});
