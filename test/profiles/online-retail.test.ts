import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { StageReport } from '../../src/contracts/report.js';
import type { HistoryStore } from '../../src/ports/history-store.js';
import { runComputeKpi } from '../../src/stages/compute-kpi.js';
import { readRunManifest } from '../../src/stages/context.js';
import { ONLINE_RETAIL_KPIS } from '../../src/profiles/online-retail/index.js';
import { DATASETS, startTestRuntime, type TestRuntime } from '../helpers/local.js';
import {
  loadOnlineRetail,
  onlineRetailKpis,
  type OnlineRetailReference,
} from './online-retail-reference.js';
import {
  expectRowsMatch,
  expectRowsReconcile,
  expectSucceeded,
  loadRun,
  query,
  validatedRows,
} from './support.js';

const SAMPLE = join(DATASETS, 'online-retail', 'online_retail_2010-12-01_to_2011-01-16.csv');

describe('online-retail: the real UCI sample end to end (58,991 invoice lines)', () => {
  let t: TestRuntime;
  let db: DuckDBConnection;
  let reference: OnlineRetailReference;
  let reports: StageReport[];
  let runId: string;
  beforeAll(async () => {
    t = await startTestRuntime();
    db = await loadOnlineRetail(SAMPLE);
    reference = await onlineRetailKpis(db);
    ({ runId, reports } = await loadRun(t, 'online-retail', 'sample', [
      { path: SAMPLE, name: 'online_retail.csv' },
    ]));
  });
  afterAll(async () => {
    db?.closeSync();
    await t?.stop();
  });

  it('accounts for every row: 602 exact duplicates dropped, nothing rejected or held', () => {
    expectSucceeded(reports);
    const counts = reports[1]!.entities!.transactions!;
    expectRowsReconcile(reports[1]!);
    expect(counts).toMatchObject({
      rowsIn: 58_991,
      valid: 58_389,
      duplicatesDropped: 602,
      rejected: 0,
      held: 0,
    });
  });

  it('keeps cancellations, bad quantities and prices and non-product codes in validated/, flagged', async () => {
    const rows = await validatedRows(t, 'online-retail', 'transactions');
    const tally = (pick: (i: number) => boolean) =>
      rows.invoice_no!.filter((_, i) => pick(i)).length;
    const [expected] = await query(
      db,
      `select count(*) filter (where upper(inv) like 'C%') as cancellations,
              count(*) filter (where q <= 0) as non_positive_quantity,
              count(*) filter (where p <= 0) as non_positive_price,
              count(*) filter (where upper(sc) in ('POST', 'DOT', 'M', 'D', 'C2', 'S', 'BANK CHARGES', 'AMAZONFEE', 'CRUK', 'B')
                                  or starts_with(upper(sc), 'GIFT_')) as non_product,
              count(*) filter (where cust is null) as no_customer,
              (select count(*) from sales) as sales
       from lines`,
    );
    const flagged = (flag: string) =>
      tally((i) =>
        String(rows.flags![i] ?? '')
          .split(',')
          .includes(flag),
      );
    expect({
      cancellations: tally((i) => rows.invoice_kind![i] === 'cancellation'),
      non_positive_quantity: flagged('non_positive_quantity'),
      non_positive_price: flagged('non_positive_price'),
      non_product: flagged('non_product_code'),
      no_customer: tally((i) => rows.customer_id![i] === null),
      sales: tally((i) => rows.in_sales![i] === true),
    }).toEqual(expected);
    expect(expected!.cancellations).toBeGreaterThan(1000);
    // Invoice numbers and stock codes stay text, letters and all.
    const at = rows.invoice_no!.indexOf('C536379');
    expect(at).toBeGreaterThanOrEqual(0);
    expect([rows.stock_code![at], rows.flags![at], rows.in_sales![at]]).toEqual([
      'D',
      'cancellation,non_positive_quantity,non_product_code',
      false,
    ]);
    expect(rows.stock_code!).toContain('85123A');
    expect(typeof rows.customer_id!.find((c) => c !== null)).toBe('string');
  });

  it.each(ONLINE_RETAIL_KPIS.map((k) => [k.name, k] as const))(
    '%s equals the DuckDB reference',
    async (name, kpi) => {
      const stored = await t.kpis.list('online-retail', name);
      const expected = reference[name as keyof OnlineRetailReference];
      expect(expected.length).toBeGreaterThan(0);
      expectRowsMatch(stored, expected, [kpi.dateColumn, ...kpi.groupBy]);
    },
  );

  it("stores monthly KPIs under the month's first day and yearly ones under 1 January", async () => {
    expect((await t.kpis.list('online-retail', 'sales_monthly')).map((r) => r.month_start)).toEqual(
      ['2010-12-01', '2011-01-01'],
    );
    expect((await t.kpis.list('online-retail', 'sales_yearly')).map((r) => r.year_start)).toEqual([
      '2010-01-01',
      '2011-01-01',
    ]);
  });

  it('purchase history: an invoice returns every line in arrival order, repeated stock codes included', async () => {
    const [pick] = await query(
      db,
      `select inv from lines group by inv order by count(*) - count(distinct sc) desc, inv limit 1`,
    );
    const invoiceNo = pick!.inv as string;
    const expected = await query(
      db,
      `select (row_number() over (order by rn))::bigint as line, sc as stockCode, descr as description,
              q as quantity, p::double as unitPrice, (q * p)::double as amount
       from lines where inv = '${invoiceNo}' order by rn`,
    );
    const invoice = await t.history.invoice(invoiceNo);
    expect(invoice).toBeDefined();
    const lines = invoice!.items.map(({ flags: _flags, ...line }) => line);
    expect(lines).toEqual(expected);
    expect(new Set(lines.map((l) => l.stockCode)).size).toBeLessThan(lines.length);
    expect(invoice!.lines).toBe(expected.length);
  });

  it("purchase history: a customer's invoices, oldest first, cancellations included", async () => {
    const [pick] = await query(
      db,
      `select cust from lines where cust is not null group by cust
       having count(distinct inv) filter (where inv like 'C%') > 0 order by count(distinct inv) desc, cust limit 1`,
    );
    const customer = pick!.cust as string;
    const expected = await query(
      db,
      `select inv as invoiceNo, strftime(min(ts), '%Y-%m-%dT%H:%M:%S.000Z') as invoiceDate, count(*)::bigint as lines,
              sum(q)::bigint as quantity, sum(q * p)::double as total,
              case when inv like 'C%' then 'cancellation' else 'sale' end as kind
       from lines where cust = '${customer}' group by inv order by min(ts), inv`,
    );
    const history = await t.history.customerInvoices(customer);
    expect(
      history.map(({ invoiceNo, invoiceDate, lines, quantity, total, kind }) => ({
        invoiceNo,
        invoiceDate,
        lines,
        quantity,
        total,
        kind,
      })),
    ).toEqual(expected);
    expect(history.every((h) => h.customerId === customer)).toBe(true);
    expect(history.some((h) => h.kind === 'cancellation')).toBe(true);
  });

  it('purchase history: several dates are written at once, and writing them again changes nothing', async () => {
    const dates = reports[1]!.datesTouched!;
    expect(dates.length).toBeGreaterThan(8);
    const [busiest] = await query(
      db,
      `select inv from lines group by inv order by count(*) desc, inv limit 1`,
    );
    const before = await t.history.invoice(busiest!.inv as string);
    expect(before?.items.length).toBeGreaterThan(100);
    let writing = 0;
    let most = 0;
    const written: string[] = [];
    const history: HistoryStore = {
      ...t.history,
      customerInvoices: (customer) => t.history.customerInvoices(customer),
      invoice: (no) => t.history.invoice(no),
      async replaceDate(date, invoices) {
        writing += 1;
        most = Math.max(most, writing);
        await new Promise((r) => setTimeout(r, 20)); // DynamoDB's round trips
        try {
          return await t.history.replaceDate(date, invoices);
        } finally {
          writing -= 1;
          written.push(date);
        }
      },
    };
    const run = await readRunManifest(t.store, runId);
    const result = await runComputeKpi({ ...t.context(runId), history }, run, dates);
    expect(written.sort()).toEqual([...dates].sort());
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
    expect(result.sinkItems).toEqual(reports[2]!.sinkItems);
    expect(await t.history.invoice(busiest!.inv as string)).toEqual(before);
  });

  it('purchase history: invoices without a customer are stored, under no customer', async () => {
    const [pick] = await query(
      db,
      `select inv, count(*)::bigint as n from lines where cust is null group by inv order by n desc, inv limit 1`,
    );
    const invoice = await t.history.invoice(pick!.inv as string);
    expect(invoice?.customerId).toBeNull();
    expect(invoice?.items).toHaveLength(pick!.n as number);
  });
});
