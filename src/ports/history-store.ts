/**
 * The purchase-history port: a customer's invoices and an invoice's lines (online-retail). Lines
 * are numbered within their invoice in the order they arrived, since neither InvoiceNo +
 * StockCode nor any other column pair is unique. Written per invoice date, replaced as a unit.
 */

export type InvoiceKind = 'sale' | 'cancellation' | 'adjustment';

export interface InvoiceLine {
  /** 1-based position of the line in its invoice. */
  line: number;
  stockCode: string;
  description: string | null;
  quantity: number;
  unitPrice: number;
  /** quantity x unitPrice. */
  amount: number;
  /** Why the line is kept out of sales KPIs, comma-separated ('' for a sale line). */
  flags: string;
}

export interface InvoiceSummary {
  invoiceNo: string;
  /** Instant of the invoice's first line, ISO-8601 UTC. */
  invoiceDate: string;
  customerId: string | null;
  country: string | null;
  kind: InvoiceKind;
  lines: number;
  /** Sum of the lines' quantities. */
  quantity: number;
  /** Sum of the lines' amounts (negative for a cancellation). */
  total: number;
}

export interface Invoice extends InvoiceSummary {
  items: InvoiceLine[];
}

export interface HistoryStore {
  /**
   * Makes the stored invoices of `date` (the pipeline-zone date of their lines) exactly
   * `invoices`: writes them, and removes invoices, lines and customer entries an earlier write of
   * the date had that these lack.
   * @returns the number of items written.
   */
  replaceDate(date: string, invoices: readonly Invoice[]): Promise<number>;
  /** A customer's invoices, oldest first. */
  customerInvoices(customerId: string): Promise<InvoiceSummary[]>;
  /** An invoice with every line in order, or undefined when unknown. */
  invoice(invoiceNo: string): Promise<Invoice | undefined>;
}
