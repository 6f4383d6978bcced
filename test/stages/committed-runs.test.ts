import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { layout } from '../../src/contracts/layout.js';
import { putJson, type ObjectStore } from '../../src/ports/object-store.js';
import { CommittedRuns } from '../../src/stages/committed-runs.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';

/** The local S3 server's store, counting the stage reports read through it. */
function countingReports(store: ObjectStore): { store: ObjectStore; reads: string[] } {
  const reads: string[] = [];
  const counting: ObjectStore = Object.create(store) as ObjectStore;
  counting.get = (key: string) => {
    reads.push(key);
    return store.get(key);
  };
  return { store: counting, reads };
}

describe('CommittedRuns', () => {
  let t: TestRuntime;

  beforeAll(async () => {
    t = await startTestRuntime();
    await putJson(t.store, layout.stageReport('run-done', 'validate'), { status: 'SUCCEEDED' });
    await putJson(t.store, layout.stageReport('run-failed', 'validate'), { status: 'FAILED' });
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('answers from the validate report: SUCCEEDED only, a missing report is not committed', async () => {
    const committed = new CommittedRuns(t.store);
    expect(await committed.isCommitted('run-done')).toBe(true);
    expect(await committed.isCommitted('run-failed')).toBe(false);
    expect(await committed.isCommitted('run-never-validated')).toBe(false);
  });

  it('readers sharing a set read a committed run once, and ask again about one not committed yet', async () => {
    const { store, reads } = countingReports(t.store);
    const seen = new Set<string>();
    expect(await new CommittedRuns(store, seen).isCommitted('run-done')).toBe(true);
    expect(await new CommittedRuns(store, seen).isCommitted('run-done')).toBe(true);
    expect(reads).toEqual([layout.stageReport('run-done', 'validate')]);

    const late = 'run-committing-meanwhile';
    expect(await new CommittedRuns(store, seen).isCommitted(late)).toBe(false);
    await putJson(t.store, layout.stageReport(late, 'validate'), { status: 'SUCCEEDED' });
    // A later reader (the next KPI period) sees the run that committed in between.
    expect(await new CommittedRuns(store, seen).isCommitted(late)).toBe(true);
    expect(reads.filter((key) => key.includes(late))).toHaveLength(2);
    expect([...seen].sort()).toEqual([late, 'run-done']);
  });

  it('without a shared set, every reader reads the report again', async () => {
    const { store, reads } = countingReports(t.store);
    await new CommittedRuns(store).isCommitted('run-done');
    await new CommittedRuns(store).isCommitted('run-done');
    expect(reads).toHaveLength(2);
  });
});
