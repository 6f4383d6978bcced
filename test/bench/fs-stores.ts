/**
 * The benchmark's in-memory KpiStore and the setup of a run over a local folder; the object
 * stores (a folder, a latency) are in ./object-stores.ts.
 */
import { layout } from '../../src/contracts/layout.js';
import { submitBatch } from '../../src/cli/submit.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import type { KpiRow, KpiRowSet, KpiStore } from '../../src/ports/kpi-store.js';
import { putJson } from '../../src/ports/object-store.js';
import { FsObjectStore } from './object-stores.js';

/** KPI rows kept in memory, as DynamoDbKpiStore would keep them: whole dates replaced. */
export class MemoryKpiStore implements KpiStore {
  private readonly dates = new Map<string, KpiRow[]>();

  async replaceDate(set: KpiRowSet): Promise<void> {
    this.dates.set(`${set.dataset}\u0000${set.kpi}\u0000${set.date}`, set.rows);
  }

  /** One process, one run at a time: the lease has nobody to exclude. */
  withDateLease<T>(
    _dataset: string,
    _date: string,
    _owner: string,
    work: () => Promise<T>,
  ): Promise<T> {
    return work();
  }

  async list(dataset: string, kpi: string): Promise<KpiRow[]> {
    const prefix = `${dataset}\u0000${kpi}\u0000`;
    return [...this.dates.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([, rows]) => rows);
  }
}

/**
 * Submits local files as a thelook batch into a local-folder store and creates its run
 * manifest, as the orchestrator does on the manifest's event. Returns the run id.
 */
export async function createLocalRun(
  root: string,
  batch: string,
  files: readonly { path: string; name: string }[],
): Promise<string> {
  const store = new FsObjectStore(root);
  const submitted = await submitBatch(store, {
    dataset: 'thelook',
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
