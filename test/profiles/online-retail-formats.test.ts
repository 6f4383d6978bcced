/**
 * Must show 2: the online-retail sample converted to XLSX, to NDJSON, gzip-compressed and to
 * latin-1 gives exactly the KPIs of the CSV. The conversions are made here from the real CSV.
 * To keep the suite's time in budget (each load writes ~1 purchase-history item per line to the
 * local DynamoDB, ~3k items/s), the sample is cut to two whole days, 2010-12-23 and 2011-01-05:
 * 2,706 lines in two months and two years, with "£" in three descriptions, cancellations and
 * exact duplicates.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import Papa from 'papaparse';
import type { StageReport } from '../../src/contracts/report.js';
import type { KpiRow } from '../../src/ports/kpi-store.js';
import { ONLINE_RETAIL_KPIS } from '../../src/profiles/online-retail/index.js';
import { DATASETS, startTestRuntime } from '../helpers/local.js';
import { expectSucceeded, loadRun } from './support.js';

const SAMPLE = join(DATASETS, 'online-retail', 'online_retail_2010-12-01_to_2011-01-16.csv');
const DAYS = ['12/23/2010 ', '1/5/2011 '];
type Row = Record<string, string>;

interface Outcome {
  reports: StageReport[];
  kpis: Record<string, KpiRow[]>;
  invoiceLines: number;
}

async function loadAndCollect(file: string, name: string): Promise<Outcome> {
  const t = await startTestRuntime();
  try {
    const { reports } = await loadRun(t, 'online-retail', 'formats', [{ path: file, name }]);
    expectSucceeded(reports);
    const kpis: Record<string, KpiRow[]> = {};
    for (const kpi of ONLINE_RETAIL_KPIS)
      kpis[kpi.name] = await t.kpis.list('online-retail', kpi.name);
    const invoiceLines = (await t.history.invoice('540238'))?.items.length ?? 0;
    return { reports, kpis, invoiceLines };
  } finally {
    await t.stop();
  }
}

/** Excel keeps numbers as numbers and dates as dates: a realistic workbook, not text cells. */
async function writeXlsx(path: string, header: string[], rows: Row[]): Promise<void> {
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({
    filename: path,
    useSharedStrings: true,
    useStyles: true,
  });
  const ws = wb.addWorksheet('Online Retail');
  ws.addRow(header).commit();
  const numeric = (v: string | undefined) =>
    v !== undefined && v !== '' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v || null;
  for (const r of rows) {
    const [, mo, d, y, h, mi] = /^(\d+)\/(\d+)\/(\d+) (\d+):(\d+)$/
      .exec(r.InvoiceDate!)!
      .map(Number);
    const row = ws.addRow([
      numeric(r.InvoiceNo),
      numeric(r.StockCode),
      r.Description || null,
      Number(r.Quantity),
      new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!)),
      Number(r.UnitPrice),
      numeric(r.CustomerID),
      r.Country || null,
    ]);
    row.getCell(5).numFmt = 'mm/dd/yyyy hh:mm';
    row.commit();
  }
  ws.commit();
  await wb.commit();
}

/** NDJSON as pandas writes it: numbers as numbers (CustomerID as 17850.0), ISO dates. */
function ndjson(rows: Row[]): string {
  return rows
    .map((r) => {
      const [, mo, d, y, h, mi] = /^(\d+)\/(\d+)\/(\d+) (\d+):(\d+)$/
        .exec(r.InvoiceDate!)!
        .map(Number);
      const iso = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!)).toISOString().replace('Z', '');
      const fields = [
        `"InvoiceNo":${JSON.stringify(r.InvoiceNo)}`,
        `"StockCode":${JSON.stringify(r.StockCode)}`,
        `"Description":${r.Description ? JSON.stringify(r.Description) : 'null'}`,
        `"Quantity":${r.Quantity}`,
        `"InvoiceDate":"${iso}"`,
        `"UnitPrice":${r.UnitPrice}`,
        `"CustomerID":${r.CustomerID ? `${r.CustomerID}.0` : 'null'}`,
        `"Country":${JSON.stringify(r.Country)}`,
      ];
      return `{${fields.join(',')}}`;
    })
    .join('\n');
}

describe('online-retail: every input format gives the KPIs of the CSV', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-formats-'));
  let csvText: string;
  let rows: Row[];
  let baseline: Outcome;

  beforeAll(async () => {
    const parsed = Papa.parse<Row>(readFileSync(SAMPLE, 'utf8'), {
      header: true,
      skipEmptyLines: true,
    });
    rows = parsed.data.filter((r) => DAYS.some((d) => r.InvoiceDate!.startsWith(d)));
    csvText = `${Papa.unparse(rows, { newline: '\n', columns: parsed.meta.fields })}\n`;
    writeFileSync(join(dir, 'subset.csv'), csvText);
    baseline = await loadAndCollect(join(dir, 'subset.csv'), 'online_retail.csv');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the CSV subset holds two days, "£" texts, duplicates and cancellations', () => {
    const counts = baseline.reports[1]!.entities!.transactions!;
    expect(counts.rowsIn).toBe(rows.length);
    expect(rows.length).toBe(2_706);
    expect(counts.duplicatesDropped).toBeGreaterThan(0);
    expect(rows.some((r) => r.InvoiceNo!.startsWith('C'))).toBe(true);
    expect(csvText).toContain('£');
    expect(baseline.kpis.sales_monthly!.map((r) => r.month_start)).toEqual([
      '2010-12-01',
      '2011-01-01',
    ]);
    expect(baseline.invoiceLines).toBe(91); // invoice 540238, with two "£" vouchers
  });

  const variants: [string, string, () => Promise<string> | string][] = [
    [
      'XLSX (numbers and dates as typed cells)',
      'online_retail.xlsx',
      async () => {
        const path = join(dir, 'subset.xlsx');
        await writeXlsx(path, Object.keys(rows[0]!), rows);
        return path;
      },
    ],
    [
      'NDJSON (typed values, ISO dates, CustomerID as 17850.0)',
      'online_retail.ndjson',
      () => {
        const path = join(dir, 'subset.ndjson');
        writeFileSync(path, ndjson(rows));
        return path;
      },
    ],
    [
      'gzip-compressed CSV',
      'online_retail.csv.gz',
      () => {
        const path = join(dir, 'subset.csv.gz');
        writeFileSync(path, gzipSync(csvText));
        return path;
      },
    ],
    [
      'latin-1 CSV (encoding detected, not declared)',
      'online_retail_latin1.csv',
      () => {
        const path = join(dir, 'subset-latin1.csv');
        const bytes = Buffer.from(csvText, 'latin1');
        expect(bytes.includes(0xa3)).toBe(true); // '£' as one latin-1 byte: not valid UTF-8
        expect(Buffer.from(bytes.toString('latin1'), 'latin1').equals(bytes)).toBe(true);
        writeFileSync(path, bytes);
        return path;
      },
    ],
  ];

  it.each(variants)('%s gives exactly the KPIs of the CSV', async (_label, name, make) => {
    const outcome = await loadAndCollect(await make(), name);
    expect(outcome.reports[1]!.entities).toEqual(baseline.reports[1]!.entities);
    for (const kpi of ONLINE_RETAIL_KPIS) {
      expect({ kpi: kpi.name, rows: outcome.kpis[kpi.name] }).toEqual({
        kpi: kpi.name,
        rows: baseline.kpis[kpi.name],
      });
    }
    expect(outcome.invoiceLines).toBe(baseline.invoiceLines);
  });
});
