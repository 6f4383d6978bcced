/**
 * HistoryStore on DynamoDB (table key schema TABLE_KEYS.history: pk, sk; all strings):
 *
 *   pk = invoice#<no>        sk = header              the invoice's summary
 *   pk = invoice#<no>        sk = line#<000001>       one line; the number is its position
 *   pk = customer#<id>       sk = invoice#<ISO instant>#<no>   a customer's invoice, by date
 *   pk = date#<yyyy-mm-dd>   sk = invoice#<no>        which invoices a date wrote, and how many
 *                                                     lines: what a rewrite of the date removes
 *
 * "A customer's invoices" and "an invoice's lines" are each one Query on one partition, in order.
 * An invoice is written with the date of its lines: the UCI data never spreads one over two
 * dates (its lines share a timestamp, give or take a minute), and one that did would have each
 * date's lines numbered from 1.
 */
import {
  BatchWriteCommand,
  paginateQuery,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { StorageError } from '../../errors.js';
import type {
  HistoryStore,
  Invoice,
  InvoiceKind,
  InvoiceLine,
  InvoiceSummary,
} from '../../ports/history-store.js';
import { TABLE_KEYS } from './tables.js';

const { partitionKey: PK, sortKey: SK } = TABLE_KEYS.history;
type Item = Record<string, unknown>;
type Key = { [PK]: string; [SK]: string };

/** Partition and sort keys of the history items (see the file header). */
export const historyKeys = {
  invoice: (invoiceNo: string) => `invoice#${invoiceNo}`,
  header: 'header',
  line: (line: number) => `line#${String(line).padStart(6, '0')}`,
  customer: (customerId: string) => `customer#${customerId}`,
  customerInvoice: (invoiceDate: string, invoiceNo: string) =>
    `invoice#${invoiceDate}#${invoiceNo}`,
  date: (date: string) => `date#${date}`,
  dateInvoice: (invoiceNo: string) => `invoice#${invoiceNo}`,
};

/** Batch writes in flight at once: enough to overlap round trips, few enough to avoid throttling. */
const CONCURRENCY = 4;

function summaryAttributes(invoice: InvoiceSummary): Item {
  return {
    invoice_no: invoice.invoiceNo,
    invoice_date: invoice.invoiceDate,
    customer_id: invoice.customerId,
    country: invoice.country,
    kind: invoice.kind,
    lines: invoice.lines,
    quantity: invoice.quantity,
    total: invoice.total,
  };
}

function summaryOf(item: Item): InvoiceSummary {
  return {
    invoiceNo: item.invoice_no as string,
    invoiceDate: item.invoice_date as string,
    customerId: (item.customer_id as string | null) ?? null,
    country: (item.country as string | null) ?? null,
    kind: item.kind as InvoiceKind,
    lines: item.lines as number,
    quantity: item.quantity as number,
    total: item.total as number,
  };
}

function lineOf(item: Item): InvoiceLine {
  return {
    line: item.line as number,
    stockCode: item.stock_code as string,
    description: (item.description as string | null) ?? null,
    quantity: item.quantity as number,
    unitPrice: item.unit_price as number,
    amount: item.amount as number,
    flags: (item.flags as string) ?? '',
  };
}

export class DynamoDbHistoryStore implements HistoryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async replaceDate(date: string, invoices: readonly Invoice[]): Promise<number> {
    const datePk = historyKeys.date(date);
    const previous = new Map(
      (await this.query(datePk)).map((item) => [item.invoice_no as string, item]),
    );
    const puts: Item[] = [];
    const deletes: Key[] = [];
    const customerKey = (customerId: unknown, invoiceDate: unknown, invoiceNo: string): Key => ({
      [PK]: historyKeys.customer(customerId as string),
      [SK]: historyKeys.customerInvoice(invoiceDate as string, invoiceNo),
    });

    for (const invoice of invoices) {
      const pk = historyKeys.invoice(invoice.invoiceNo);
      const summary = summaryAttributes(invoice);
      puts.push({ [PK]: pk, [SK]: historyKeys.header, ...summary });
      for (const line of invoice.items) {
        puts.push({
          [PK]: pk,
          [SK]: historyKeys.line(line.line),
          invoice_no: invoice.invoiceNo,
          line: line.line,
          stock_code: line.stockCode,
          description: line.description,
          quantity: line.quantity,
          unit_price: line.unitPrice,
          amount: line.amount,
          flags: line.flags,
        });
      }
      if (invoice.customerId !== null) {
        puts.push({
          ...customerKey(invoice.customerId, invoice.invoiceDate, invoice.invoiceNo),
          ...summary,
        });
      }
      puts.push({
        [PK]: datePk,
        [SK]: historyKeys.dateInvoice(invoice.invoiceNo),
        invoice_no: invoice.invoiceNo,
        invoice_date: invoice.invoiceDate,
        customer_id: invoice.customerId,
        lines: invoice.lines,
      });
    }

    const current = new Map(invoices.map((i) => [i.invoiceNo, i]));
    for (const [invoiceNo, before] of previous) {
      const now = current.get(invoiceNo);
      const pk = historyKeys.invoice(invoiceNo);
      for (let line = (now?.lines ?? 0) + 1; line <= (before.lines as number); line++) {
        deletes.push({ [PK]: pk, [SK]: historyKeys.line(line) });
      }
      const customerMoved =
        before.customer_id !== null &&
        before.customer_id !== undefined &&
        (now === undefined ||
          now.customerId !== before.customer_id ||
          now.invoiceDate !== before.invoice_date);
      if (customerMoved) {
        deletes.push(customerKey(before.customer_id, before.invoice_date, invoiceNo));
      }
      if (!now) {
        deletes.push({ [PK]: pk, [SK]: historyKeys.header });
        deletes.push({ [PK]: datePk, [SK]: historyKeys.dateInvoice(invoiceNo) });
      }
    }
    await this.batchWrite([
      ...puts.map((Item) => ({ PutRequest: { Item } })),
      ...deletes.map((Key) => ({ DeleteRequest: { Key } })),
    ]);
    return puts.length;
  }

  async customerInvoices(customerId: string): Promise<InvoiceSummary[]> {
    return (await this.query(historyKeys.customer(customerId))).map(summaryOf);
  }

  async invoice(invoiceNo: string): Promise<Invoice | undefined> {
    const items = await this.query(historyKeys.invoice(invoiceNo));
    const header = items.find((i) => i[SK] === historyKeys.header);
    if (!header) return undefined;
    const lines = items
      .filter((i) => (i[SK] as string).startsWith('line#'))
      .map(lineOf)
      .sort((a, b) => a.line - b.line);
    return { ...summaryOf(header), items: lines };
  }

  private async query(pk: string): Promise<Item[]> {
    const items: Item[] = [];
    try {
      for await (const page of paginateQuery(
        { client: this.client },
        {
          TableName: this.table,
          KeyConditionExpression: '#pk = :pk',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
        },
      ))
        items.push(...(page.Items ?? []));
    } catch (error) {
      throw new StorageError(`Query ${this.table} ${pk} failed`, { cause: error });
    }
    return items;
  }

  private async batchWrite(requests: Item[]): Promise<void> {
    const batches: Item[][] = [];
    for (let i = 0; i < requests.length; i += 25) batches.push(requests.slice(i, i + 25));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) await this.writeBatch(batches[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, batches.length) }, worker));
  }

  private async writeBatch(batch: Item[]): Promise<void> {
    let pending = batch;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 8)
        throw new StorageError(`BatchWriteItem ${this.table}: items left unprocessed`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, 50 * 2 ** attempt * Math.random()));
      try {
        const out = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }),
        );
        pending = (out.UnprocessedItems?.[this.table] ?? []) as Item[];
      } catch (error) {
        throw new StorageError(`BatchWriteItem ${this.table} failed`, { cause: error });
      }
    }
  }
}
