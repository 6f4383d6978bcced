/**
 * The purchase-history adapter against the local runtime's DynamoDB (dynalite) and, as the
 * higher-fidelity tier, moto_server: the same scenarios on both.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbHistoryStore } from '../../src/adapters/aws/dynamodb-history-store.js';
import { TABLE_KEYS } from '../../src/adapters/aws/tables.js';
import type { HistoryStore, Invoice } from '../../src/ports/history-store.js';
import { startTestRuntime } from '../helpers/local.js';
import { MOTO_CREDENTIALS, MOTO_REGION, motoRequired, startMoto } from '../helpers/moto.js';

const line = (n: number, stockCode: string, quantity = 1) => ({
  line: n,
  stockCode,
  description: `item ${stockCode}`,
  quantity,
  unitPrice: 2.5,
  amount: quantity * 2.5,
  flags: '',
});

function invoice(
  no: string,
  customerId: string | null,
  codes: string[],
  at = '2010-12-01T08:26:00.000Z',
): Invoice {
  const items = codes.map((c, i) => line(i + 1, c));
  return {
    invoiceNo: no,
    invoiceDate: at,
    customerId,
    country: 'United Kingdom',
    kind: no.startsWith('C') ? 'cancellation' : 'sale',
    lines: items.length,
    quantity: items.length,
    total: items.length * 2.5,
    items,
  };
}

interface Backend {
  history: HistoryStore;
  stop(): Promise<void>;
}

async function localBackend(): Promise<Backend> {
  const t = await startTestRuntime();
  return { history: t.history, stop: () => t.stop() };
}

/** moto_server with the history table created from the key schema the code declares. */
async function motoBackend(): Promise<Backend> {
  const moto = await startMoto();
  const client = new DynamoDBClient({
    region: MOTO_REGION,
    endpoint: moto.endpoint,
    credentials: MOTO_CREDENTIALS,
  });
  const { partitionKey, sortKey } = TABLE_KEYS.history;
  await client.send(
    new CreateTableCommand({
      TableName: 'cartpipe-history',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  const history = new DynamoDbHistoryStore(DynamoDBDocumentClient.from(client), 'cartpipe-history');
  return {
    history,
    stop: async () => {
      client.destroy();
      await moto.stop();
    },
  };
}

const backends: [string, () => Promise<Backend>][] = [
  ['the local runtime (dynalite)', localBackend],
  ...(motoRequired() ? [['moto_server', motoBackend] as [string, () => Promise<Backend>]] : []),
];

describe.each(backends)('purchase history on DynamoDB: %s', (_name, open) => {
  let t: Backend;
  beforeAll(async () => {
    t = await open();
  });
  afterAll(async () => t?.stop());

  it('stores every line of an invoice under its number, a stock code repeated on several lines included', async () => {
    await t.history.replaceDate('2010-12-01', [
      invoice('536365', '17850', ['85123A', '71053', '85123A']),
    ]);
    const stored = await t.history.invoice('536365');
    expect(stored?.items.map((l) => [l.line, l.stockCode])).toEqual([
      [1, '85123A'],
      [2, '71053'],
      [3, '85123A'],
    ]);
    expect(await t.history.invoice('999999')).toBeUndefined();
  });

  it("lists a customer's invoices oldest first, and only theirs", async () => {
    await t.history.replaceDate('2010-12-02', [
      invoice('536500', '17850', ['A'], '2010-12-02T10:00:00.000Z'),
      invoice('C536501', '17850', ['A'], '2010-12-02T09:00:00.000Z'),
      invoice('536502', '13047', ['B'], '2010-12-02T09:30:00.000Z'),
      invoice('536503', null, ['B'], '2010-12-02T09:45:00.000Z'),
    ]);
    const history = await t.history.customerInvoices('17850');
    expect(history.map((h) => [h.invoiceNo, h.kind])).toEqual([
      ['536365', 'sale'],
      ['C536501', 'cancellation'],
      ['536500', 'sale'],
    ]);
    expect(await t.history.customerInvoices('00000')).toEqual([]);
  });

  it('rewriting a date replaces it: lines, invoices and customer entries it no longer has are removed', async () => {
    await t.history.replaceDate('2010-12-02', [
      invoice('536500', '13047', ['A', 'B'], '2010-12-02T10:00:00.000Z'), // now another customer's
      invoice('536502', '13047', [], '2010-12-02T09:30:00.000Z'), // fewer lines (none)
    ]);
    expect((await t.history.customerInvoices('17850')).map((h) => h.invoiceNo)).toEqual(['536365']);
    expect((await t.history.customerInvoices('13047')).map((h) => h.invoiceNo)).toEqual([
      '536502',
      '536500',
    ]);
    expect((await t.history.invoice('536502'))?.items).toEqual([]);
    expect(await t.history.invoice('C536501')).toBeUndefined();
    expect(await t.history.invoice('536503')).toBeUndefined();
    // Another date's invoices are untouched.
    expect((await t.history.invoice('536365'))?.items).toHaveLength(3);
  });

  it('writes the same items again when a date is rewritten unchanged (re-runs are idempotent)', async () => {
    const day = [invoice('540001', '12345', ['X', 'Y', 'X'], '2011-01-05T14:44:00.000Z')];
    await t.history.replaceDate('2011-01-05', day);
    const first = await t.history.invoice('540001');
    await t.history.replaceDate('2011-01-05', day);
    expect(await t.history.invoice('540001')).toEqual(first);
    expect(await t.history.customerInvoices('12345')).toHaveLength(1);
  });
});
