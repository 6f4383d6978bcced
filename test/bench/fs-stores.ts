/**
 * The benchmark's in-memory KpiStore and HistoryStore and the setup of a run over a local folder;
 * the object stores (a folder, a latency) are in ./object-stores.ts.
 */
import { layout } from '../../src/contracts/layout.js';
import { submitBatch } from '../../src/cli/submit.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import type { HistoryStore, Invoice, InvoiceSummary } from '../../src/ports/history-store.js';
import type { KpiRow, KpiRowSet, KpiStore } from '../../src/ports/kpi-store.js';
import { putJson } from '../../src/ports/object-store.js';
import { FsObjectStore } from './object-stores.js';

/** KPI rows kept in memory, as DynamoDbKpiStore would keep them: whole dates replaced. */
export class MemoryKpiStore implements KpiStore {
  private readonly dates = new Map<string, KpiRow[]>();
  /** Round trips DynamoDbKpiStore would have made (counted when a latency is set). */
  calls = 0;

  /**
   * `keepRows: false`: only how many rows each date got (a profile with millions of them).
   * `latencyMs`: added to each round trip DynamoDbKpiStore makes, one after another: a date's
   * rows replaced (its stale rows queried, then the new ones written), a lease taken and released.
   */
  constructor(
    private readonly keepRows = true,
    private readonly latencyMs = 0,
    private readonly sleep = (ms: number) =>
      new Promise<void>((resolve) => setTimeout(resolve, ms)),
  ) {}

  private async roundTrips(count: number): Promise<void> {
    if (this.latencyMs === 0) return;
    this.calls += count;
    for (let i = 0; i < count; i++) await this.sleep(this.latencyMs);
  }

  async replaceDate(set: KpiRowSet): Promise<void> {
    await this.roundTrips(2);
    const rows = this.keepRows ? set.rows : new Array<KpiRow>(set.rows.length);
    this.dates.set(`${set.dataset}\u0000${set.kpi}\u0000${set.date}`, rows);
  }

  /** Rows stored per KPI (counted when they were not kept). */
  counts(dataset: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [key, rows] of this.dates) {
      const [d, kpi] = key.split('\u0000');
      if (d === dataset) counts[kpi!] = (counts[kpi!] ?? 0) + rows.length;
    }
    return counts;
  }

  /** One process, one run at a time: the lease has nobody to exclude, only its round trips. */
  async withDateLease<T>(
    _dataset: string,
    _date: string,
    _owner: string,
    work: () => Promise<T>,
  ): Promise<T> {
    await this.roundTrips(1);
    const result = await work();
    await this.roundTrips(1);
    return result;
  }

  async list(dataset: string, kpi: string): Promise<KpiRow[]> {
    const prefix = `${dataset}\u0000${kpi}\u0000`;
    return [...this.dates.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([, rows]) => rows);
  }
}

/** Invoices kept in memory by date, for online-retail's purchase-history sink. */
export class MemoryHistoryStore implements HistoryStore {
  private readonly dates = new Map<string, readonly Invoice[]>();

  async replaceDate(date: string, invoices: readonly Invoice[]): Promise<number> {
    this.dates.set(date, invoices);
    // The items DynamoDbHistoryStore writes: a header, the lines, the customer's and the date's.
    return invoices.reduce(
      (items, i) => items + 2 + i.items.length + (i.customerId === null ? 0 : 1),
      0,
    );
  }

  async customerInvoices(customerId: string): Promise<InvoiceSummary[]> {
    return [...this.dates.values()]
      .flat()
      .filter((i) => i.customerId === customerId)
      .map(({ items: _items, ...summary }) => summary)
      .sort((a, b) => (a.invoiceDate < b.invoiceDate ? -1 : a.invoiceDate > b.invoiceDate ? 1 : 0));
  }

  async invoice(invoiceNo: string): Promise<Invoice | undefined> {
    for (const invoices of this.dates.values()) {
      const found = invoices.find((i) => i.invoiceNo === invoiceNo);
      if (found) return found;
    }
    return undefined;
  }
}

/**
 * Submits local files as a batch of `dataset` (thelook unless named) into a local-folder store and
 * creates its run manifest, as the orchestrator does on the manifest's event. Returns the run id.
 */
export async function createLocalRun(
  root: string,
  batch: string,
  files: readonly { path: string; name: string }[],
  dataset = 'thelook',
): Promise<string> {
  const store = new FsObjectStore(root);
  const submitted = await submitBatch(store, {
    dataset,
    batch,
    files: files.map((f) => ({ path: f.path, name: f.name })),
  });
  const run = await resolveRunManifest(
    store,
    { key: submitted.manifestKey, etag: submitted.manifestEtag },
    new Date(),
  );
  await putJson(store, layout.runManifest(run.runId), run);
  return run.runId;
}
