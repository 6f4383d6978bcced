/**
 * The real CLI path: `cartpipe run` starts the local runtime, puts the files and the manifest
 * into its bucket and runs the compiled jobs (dist/jobs, built by `make test`) as child
 * processes; then `cartpipe kpis`, `cartpipe history` and `cartpipe invoice` read the stores.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { REES46_KPIS } from '../../src/profiles/rees46/index.js';
import { DATASETS } from '../helpers/local.js';
import { rees46Kpis } from './rees46-reference.js';
import { loadOnlineRetail } from './online-retail-reference.js';
import { expectRowsMatch, query } from './support.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, (text) => lines.push(text));
  return { code, out: lines.join('\n') };
}

/** The JSON document a command printed last (run progress lines come before it). */
const json = (out: string): unknown => JSON.parse(out.slice(out.search(/^[[{]/m)));

describe('cartpipe run / kpis / history / invoice through the CLI and child-process jobs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-cli-'));
  const saved = { ...process.env };
  beforeAll(() => {
    process.env.CARTPIPE_DATA_DIR = join(dir, 'data');
    delete process.env.CARTPIPE_AGGREGATIONS_FILE;
  });
  afterAll(() => {
    process.env = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('rees46: `cartpipe run` loads the real sample and `cartpipe kpis --format json` gives the reference KPIs', async () => {
    const sample = join(DATASETS, 'rees46-events');
    const run = await cli(
      'run',
      '--dataset',
      'rees46',
      '--batch',
      'rees46-sample',
      '--quiet',
      sample,
    );
    expect({ code: run.code, out: run.out }).toMatchObject({ code: 0 });
    const reference = await rees46Kpis(`${sample}/customer/*.csv`, `${sample}/item/item.csv`);
    try {
      const printed = await cli('kpis', '--dataset', 'rees46', '--format', 'json');
      expect(printed.code).toBe(0);
      const all = json(printed.out) as Record<string, Record<string, never>[]>;
      expect(Object.keys(all)).toEqual(REES46_KPIS.map((k) => k.name));
      for (const kpi of REES46_KPIS) {
        expectRowsMatch(all[kpi.name]!, reference[kpi.name as 'daily'], [
          kpi.dateColumn,
          ...kpi.groupBy,
        ]);
      }
      const one = await cli(
        'kpis',
        '--dataset',
        'rees46',
        '--kpi',
        'category_daily',
        '--format',
        'csv',
      );
      expect(one.out.split('\n')[0]).toBe(
        'category_id,category_code,event_date,views,carts,removals,purchases,revenue,orders,avg_order_value,sessions,view_to_cart_rate,cart_to_purchase_rate,view_to_purchase_rate',
      );
      expect(one.out).toMatch(/^1487580005268456192,,2022-10-01,/m);
    } finally {
      reference.db.closeSync();
    }
  });

  it("online-retail: `cartpipe invoice` prints every line of an invoice, repeated stock codes included; `cartpipe history` a customer's invoices", async () => {
    const lines = readFileSync(
      join(DATASETS, 'online-retail', 'online_retail_2010-12-01_to_2011-01-16.csv'),
      'utf8',
    ).split('\n');
    const day = [lines[0]!, ...lines.filter((l) => l.includes(',12/1/2010 '))].join('\n');
    const file = join(dir, 'online_retail_2010-12-01.csv');
    writeFileSync(file, `${day}\n`);
    const run = await cli(
      'run',
      '--dataset',
      'online-retail',
      '--batch',
      'retail-day',
      '--quiet',
      file,
    );
    expect(run.code).toBe(0);

    const db = await loadOnlineRetail(file);
    try {
      const [pick] = await query(
        db,
        `select inv from lines group by inv having count(*) > count(distinct sc) order by count(*) desc, inv limit 1`,
      );
      const invoiceNo = pick!.inv as string;
      const expected = await query(
        db,
        `select (row_number() over (order by rn))::bigint as line, sc as stock_code, descr as description, q as quantity,
                p::double as unit_price
         from lines where inv = '${invoiceNo}' order by rn`,
      );
      const printed = await cli('invoice', invoiceNo, '--format', 'json');
      expect(printed.code).toBe(0);
      const invoice = json(printed.out) as {
        invoice_no: string;
        lines: number;
        items: Record<string, unknown>[];
      };
      expect(invoice.invoice_no).toBe(invoiceNo);
      expect(
        invoice.items.map(({ line, stock_code, description, quantity, unit_price }) => ({
          line,
          stock_code,
          description,
          quantity,
          unit_price,
        })),
      ).toEqual(expected);
      expect(new Set(invoice.items.map((l) => l.stock_code)).size).toBeLessThan(
        invoice.items.length,
      );

      const table = await cli('invoice', invoiceNo);
      expect(table.out).toContain(`invoice ${invoiceNo} (sale)`);
      expect(table.out.split('\n').filter((l) => /^\s*\d+\s{2}/.test(l))).toHaveLength(
        expected.length,
      );

      const [customer] = await query(
        db,
        `select cust from lines where cust is not null group by cust order by count(distinct inv) desc, cust limit 1`,
      );
      const invoices = await query(
        db,
        `select inv from lines where cust = '${customer!.cust as string}' group by inv order by min(ts), inv`,
      );
      const history = await cli(
        'history',
        '--customer',
        customer!.cust as string,
        '--format',
        'json',
      );
      expect(history.code).toBe(0);
      expect((json(history.out) as { invoice_no: string }[]).map((h) => h.invoice_no)).toEqual(
        invoices.map((r) => r.inv),
      );
    } finally {
      db.closeSync();
    }
    expect((await cli('invoice', 'NO-SUCH')).code).toBe(1);
    expect((await cli('history', '--customer', '00000')).code).toBe(1);
    expect((await cli('history')).code).toBe(2);
  });

  it('clickstream: `cartpipe kpis --kpi` prints an aggregation declared in an INI file named by CARTPIPE_AGGREGATIONS_FILE', async () => {
    const ini = join(dir, 'clicks.ini');
    writeFileSync(
      ini,
      '[weekly_by_category]\ngroup_by = product_category\nperiod = week\ntime_zone = Asia/Shanghai\n',
    );
    process.env.CARTPIPE_AGGREGATIONS_FILE = ini;
    try {
      const fixture = join(import.meta.dirname, '..', 'fixtures', 'clickstream', 'raw_sample.csv');
      const run = await cli(
        'run',
        '--dataset',
        'clickstream',
        '--batch',
        'clicks',
        '--quiet',
        fixture,
      );
      expect(run.code).toBe(0);
      const printed = await cli(
        'kpis',
        '--dataset',
        'clickstream',
        '--kpi',
        'weekly_by_category',
        '--format',
        'json',
      );
      expect(printed.code).toBe(0);
      const rows = json(printed.out) as {
        period_date: string;
        product_category: string;
        impressions: number;
      }[];
      expect(new Set(rows.map((r) => r.period_date))).toEqual(
        new Set(['2017-05-01', '2017-05-08']),
      );
      expect(rows.reduce((n, r) => n + r.impressions, 0)).toBe(42);
      expect(
        (await cli('kpis', '--dataset', 'clickstream', '--kpi', 'no_such_aggregation')).code,
      ).toBe(2);
    } finally {
      delete process.env.CARTPIPE_AGGREGATIONS_FILE;
    }
  });
});
