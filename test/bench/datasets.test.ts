import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferOf, readParquet, type Value } from '../../src/formats/parquet.js';
import { listAll } from '../../src/ports/object-store.js';
import { getProfile } from '../../src/profiles/registry.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { loadRun } from '../profiles/support.js';
import { compareRowsByKey } from './compare.js';
import {
  generateDataset,
  OTHER_DATASETS,
  referenceCounts,
  referenceKpis,
  type OtherDataset,
} from './datasets.js';

describe('benchmark: the other data sets, generated and checked against their references', () => {
  let root: string;
  let t: TestRuntime;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'cartpipe-datasets-'));
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  /** Every row of the Parquet parts under `prefix`, as objects. */
  const parquetRows = async (prefix: string): Promise<Record<string, Value>[]> => {
    const rows: Record<string, Value>[] = [];
    for (const object of await listAll(t.store, prefix)) {
      for await (const columns of readParquet(bufferOf(await t.store.get(object.key)))) {
        const names = Object.keys(columns);
        for (let i = 0; i < columns[names[0]!]!.length; i++)
          rows.push(Object.fromEntries(names.map((name) => [name, columns[name]![i]!])));
      }
    }
    return rows;
  };

  it('writes the same files for the same seed, and other files for another', () => {
    // Each in its own folder: a folder holding a finished set is reused as it is.
    const bytes = (seed: number, folder: string) => {
      const data = generateDataset(join(root, folder), 'clickstream', 3_000, seed);
      return data.files.map((f) => readFileSync(f.path, 'utf8')).join('');
    };
    expect(bytes(7, 'a')).toBe(bytes(7, 'b'));
    expect(bytes(7, 'a')).not.toBe(bytes(8, 'c'));
  });

  it.each(OTHER_DATASETS.map((d) => [d]))(
    '%s: the pipeline accounts for every line and its KPIs equal the reference',
    async (dataset: OtherDataset) => {
      const data = generateDataset(root, dataset, 20_000, 5);
      expect(data.rows).toBeGreaterThanOrEqual(20_000);
      expect(data.rows).toBeLessThan(20_100);
      const { reports } = await loadRun(t, dataset, `gen-${dataset}`, data.files);
      const validate = reports[1]!;
      expect(validate.status).toBe('SUCCEEDED');
      const counts = await referenceCounts(data);
      for (const [entity, expected] of Object.entries(counts)) {
        expect(validate.entities?.[entity]).toMatchObject(expected);
      }
      if (dataset === 'clickstream') {
        // Every injected line was rejected or dropped as the generator says.
        const clicks = validate.entities!.clicks!;
        expect(clicks.rejected).toBe(
          data.injected.inconsistent_click_flags! +
            data.injected.invalid_timestamp! +
            data.injected.missing_user!,
        );
        expect(clicks.rejected).toBeGreaterThan(0);
        expect(clicks.duplicatesDropped).toBe(data.injected.duplicate);
      } else {
        expect(Object.values(counts)[0]!.duplicatesDropped).toBeGreaterThan(0);
      }
      const reference = await referenceKpis(data);
      for (const kpi of getProfile(dataset).kpis) {
        expect(reference[kpi.name]!.length).toBeGreaterThan(0);
        const keys = [kpi.dateColumn, ...kpi.groupBy];
        // The KPI store's items and the kpis/ Parquet copies (what Athena reads) alike.
        const stored = await t.kpis.list(dataset, kpi.name);
        expect(compareRowsByKey(kpi.name, stored, reference[kpi.name]!, keys).mismatches).toEqual(
          [],
        );
        const copies = await parquetRows(`kpis/${dataset}/${kpi.name}/`);
        expect(compareRowsByKey(kpi.name, copies, reference[kpi.name]!, keys).mismatches).toEqual(
          [],
        );
      }
    },
    120_000,
  );

  it('flags a missing row, an extra one, a repeated key and a value past the tolerance', () => {
    const reference = [
      { day: '2025-01-01', group: 'a', n: 3, rate: 0.5 },
      { day: '2025-01-01', group: 'b', n: 4, rate: 0.25 },
    ];
    expect(
      compareRowsByKey('k', [...reference].reverse(), reference, ['day', 'group']).mismatchCount,
    ).toBe(0);
    const within = [{ ...reference[0]!, rate: 0.5 + 1e-12 }, reference[1]!];
    expect(compareRowsByKey('k', within, reference, ['day', 'group']).mismatchCount).toBe(0);
    const ours = [
      { ...reference[0]!, rate: 0.5001 },
      { day: '2025-01-01', group: 'c', n: 1, rate: 1 },
      { day: '2025-01-01', group: 'c', n: 1, rate: 1 },
    ];
    const check = compareRowsByKey('k', ours, reference, ['day', 'group']);
    expect(check.mismatches).toEqual([
      'k ["2025-01-01","c"]: row appears twice',
      'k ["2025-01-01","a"]: rate 0.5001 vs reference 0.5',
      'k ["2025-01-01","b"]: missing',
      'k ["2025-01-01","c"]: not in the reference',
    ]);
  });
});
