/**
 * Commands that serve a profile's own stores: the purchase history of online-retail
 * (`cartpipe history --customer ID`, `cartpipe invoice NO`), and the KPI list helpers `cartpipe
 * kpis` uses so that configured KPIs (clickstream's aggregations) are listed like fixed ones.
 */
import { parseArgs } from 'node:util';
import { PROFILE_ENV, readConfig } from '../config.js';
import type { Value } from '../formats/parquet.js';
import type { InvoiceLine, InvoiceSummary } from '../ports/history-store.js';
import type { KpiRow } from '../ports/kpi-store.js';
import { profileSettings, runKpis } from '../profiles/settings.js';
import type { KpiSpec, Profile } from '../profiles/types.js';
import { table } from './format.js';
import { openLocalSession } from './local-session.js';
import { CommandLineError as UsageError } from './orchestration-commands.js';

type Print = (text: string) => void;

const FORMATS = ['table', 'json'];
const LINE_COLUMNS = [
  'line',
  'stock_code',
  'description',
  'quantity',
  'unit_price',
  'amount',
  'flags',
];

function summaryRow(s: InvoiceSummary): Record<string, Value> {
  return {
    invoice_date: s.invoiceDate,
    invoice_no: s.invoiceNo,
    kind: s.kind,
    customer_id: s.customerId,
    country: s.country,
    lines: s.lines,
    quantity: s.quantity,
    total: s.total,
  };
}

function lineRow(l: InvoiceLine): Record<string, Value> {
  return {
    line: l.line,
    stock_code: l.stockCode,
    description: l.description,
    quantity: l.quantity,
    unit_price: l.unitPrice,
    amount: l.amount,
    flags: l.flags,
  };
}

/**
 * `cartpipe history --customer ID [--format table|json]`: a customer's invoices, oldest first.
 * @returns 0, or 1 when the customer has no invoice
 */
export async function historyCommand(argv: string[], print: Print): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      customer: { type: 'string', short: 'c' },
      format: { type: 'string', short: 'f', default: 'table' },
    },
  });
  if (!values.customer) throw new UsageError('--customer ID is required');
  if (!FORMATS.includes(values.format!)) throw new UsageError('--format is one of table, json');
  const session = await openLocalSession();
  try {
    const invoices = (await session.history.customerInvoices(values.customer)).map(summaryRow);
    if (values.format === 'json') print(JSON.stringify(invoices, null, 2));
    else if (invoices.length > 0) {
      print(
        `customer ${values.customer}: ${invoices.length} invoice(s)\n${table(Object.keys(invoices[0]!), invoices)}`,
      );
    }
    if (invoices.length === 0) {
      process.stderr.write(`cartpipe history: no invoices for customer ${values.customer}\n`);
      return 1;
    }
    return 0;
  } finally {
    await session.close();
  }
}

/**
 * `cartpipe invoice NO [--format table|json]`: an invoice and every one of its lines, in order.
 * @returns 0, or 1 when the invoice is unknown
 */
export async function invoiceCommand(argv: string[], print: Print): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { format: { type: 'string', short: 'f', default: 'table' } },
  });
  if (positionals.length !== 1) throw new UsageError('give one invoice number');
  if (!FORMATS.includes(values.format!)) throw new UsageError('--format is one of table, json');
  const invoiceNo = positionals[0]!;
  const session = await openLocalSession();
  try {
    const invoice = await session.history.invoice(invoiceNo);
    if (!invoice) {
      process.stderr.write(`cartpipe invoice: no invoice ${invoiceNo}\n`);
      return 1;
    }
    const header = summaryRow(invoice);
    const lines = invoice.items.map(lineRow);
    if (values.format === 'json') {
      print(JSON.stringify({ ...header, items: lines }, null, 2));
    } else {
      print(
        [
          `invoice ${invoice.invoiceNo} (${invoice.kind}) of ${invoice.invoiceDate}`,
          `customer ${invoice.customerId ?? '(none)'}, ${invoice.country ?? ''}: ${invoice.lines} line(s), quantity ${invoice.quantity}, total ${invoice.total}`,
          '',
          table(LINE_COLUMNS, lines),
        ].join('\n'),
      );
    }
    return 0;
  } finally {
    await session.close();
  }
}

/** Natural order of KPI rows: by date, then by each group column, numbers as numbers. */
export function sortKpiRows(kpi: KpiSpec, rows: KpiRow[]): KpiRow[] {
  const keys = [kpi.dateColumn, ...kpi.groupBy];
  const compare = (a: Value | undefined, b: Value | undefined): number => {
    if (a === b) return 0;
    if (a === null || a === undefined) return -1;
    if (b === null || b === undefined) return 1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a) < String(b) ? -1 : 1;
  };
  return [...rows].sort((x, y) => {
    for (const k of keys) {
      const c = compare(x[k], y[k]);
      if (c !== 0) return c;
    }
    return 0;
  });
}

/**
 * The KPIs `cartpipe kpis` prints for a profile: its configured list (CARTPIPE_AGGREGATIONS_FILE
 * for clickstream), or the one asked for. A KPI a run declared in its manifest options only is
 * found by its stored rows, its columns taken from them.
 * @throws UsageError for a KPI the profile does not know and no run stored.
 */
export async function kpisToPrint(
  profile: Profile,
  name: string | undefined,
  list: (kpi: string) => Promise<KpiRow[]>,
): Promise<{ kpi: KpiSpec; rows: KpiRow[] }[]> {
  const known = runKpis(profile, {}, profileSettings(readConfig(PROFILE_ENV)));
  const wanted = name ? known.filter((k) => k.name === name) : known;
  const out: { kpi: KpiSpec; rows: KpiRow[] }[] = [];
  for (const kpi of wanted) out.push({ kpi, rows: sortKpiRows(kpi, await list(kpi.name)) });
  if (name && wanted.length === 0 && profile.kpisFor) {
    const rows = await list(name);
    if (rows.length > 0) {
      const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].sort();
      const numeric = (c: string) => rows.some((r) => typeof r[c] === 'number');
      const dateColumn = columns.includes('period_date') ? 'period_date' : columns[0]!;
      const kpi: KpiSpec = {
        name,
        description: 'declared in a run manifest',
        dateColumn,
        groupBy: columns.filter((c) => c !== dateColumn && !numeric(c)),
        columns: columns.map((c) => ({ name: c, type: numeric(c) ? 'float' : 'string' })),
      };
      out.push({ kpi, rows: sortKpiRows(kpi, rows) });
    }
  }
  if (out.length === 0) {
    throw new UsageError(
      `unknown KPI ${name}; ${profile.name} has ${known.map((k) => k.name).join(', ')}`,
    );
  }
  return out;
}
