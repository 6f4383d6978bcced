import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { layout, STAGES } from '../../src/contracts/layout.js';
import { getJson, listAll } from '../../src/ports/object-store.js';
import type { RunReport } from '../../src/orchestrator/run-report.js';
import type { RunRecord } from '../../src/ports/runs-store.js';
import { expectKpisEqual, referenceKpis } from '../thelook/reference.js';
import { csvRows, SAMPLE, startHarness, type Harness } from './support.js';

describe('a manifest put into the local S3 server runs the whole pipeline through events', () => {
  let h: Harness;
  let runId: string;
  let manifest: { manifestKey: string; etag: string };
  let run: RunRecord;
  beforeAll(async () => {
    h = await startHarness();
    // Only the S3 API is used: the server's ObjectCreated event for the manifest does the rest.
    const submitted = await h.submit('e2e-1');
    runId = submitted.runId;
    manifest = submitted;
    run = await h.settled(runId);
    await h.orchestration.idle();
  });
  afterAll(async () => h.stop());

  it('runs upload, validate and compute-kpi once each as child processes and succeeds', () => {
    expect(run.status).toBe('SUCCEEDED');
    expect(run.batch).toBe('e2e-1');
    expect(run.dataset).toBe('thelook');
    for (const stage of STAGES) {
      const state = run.stages[stage]!;
      expect({ stage, status: state.status, attempts: state.attempts.length }).toEqual({
        stage,
        status: 'SUCCEEDED',
        attempts: 1,
      });
      expect(state.attempts[0]!.exitCode).toBe(0);
      expect(state.attempts[0]!.taskArn).toMatch(
        /^arn:aws:ecs:[^:]+:\d{12}:task\/cartpipe-local\//,
      );
      expect(state.reportKey).toBe(layout.stageReport(runId, stage));
    }
    // Each stage ran as its own process: one log stream per stage and attempt.
    expect(readdirSync(join(h.t.runtime.dataDir, 'logs', runId)).sort()).toEqual([
      'compute-kpi-1.log',
      'upload-1.log',
      'validate-1.log',
    ]);
  });

  it('leaves the KPIs of the sample in DynamoDB, equal to DuckDB SQL over the raw CSVs', async () => {
    const reference = await referenceKpis(SAMPLE);
    expectKpisEqual(await h.t.kpis.list('thelook', 'daily'), reference.daily, ['order_date']);
    expectKpisEqual(await h.t.kpis.list('thelook', 'category_daily'), reference.categoryDaily, [
      'category',
      'order_date',
    ]);
  });

  it('publishes exactly one notification, with the right counts', () => {
    const sent = h.notifications(runId);
    expect(sent).toHaveLength(1);
    const n = sent[0]!.notification;
    expect(n.Subject).toBe('[cartpipe] SUCCEEDED thelook batch e2e-1');
    expect(n.MessageAttributes).toEqual({
      status: { Type: 'String', Value: 'SUCCEEDED' },
      dataset: { Type: 'String', Value: 'thelook' },
    });
    const orders = csvRows(join(SAMPLE, 'orders', 'orders_part1.csv'));
    const items = csvRows(join(SAMPLE, 'order_items', 'order_items_part1.csv'));
    const products = csvRows(join(SAMPLE, 'products.csv'));
    expect([orders, items, products]).toEqual([150, 422, 417]);
    expect(n.Message).toContain(
      `upload: 3 file(s), ${(orders + items + products).toLocaleString('en-US')} rows read`,
    );
    expect(n.Message).toContain(`order_items: ${items} in = ${items} valid + 0 rejected + 0 held`);
    expect(n.Message).toContain(`orders: ${orders} in = ${orders} valid + 0 rejected`);
    expect(n.Message).toContain(`products: ${products} in = ${products} valid + 0 rejected`);
    expect(n.Message).toContain('compute-kpi: 30 date(s) recomputed (2025-03-08 .. 2025-04-06)');
    expect(n.Message).toContain('KPI dates touched (30): 2025-03-08, 2025-03-09,');
    expect(n.Message).toContain(`s3://${h.t.runtime.bucket}/runs/${runId}/report.json`);
    expect(n.Message).toContain(`s3://${h.t.runtime.bucket}/kpis/thelook/`);
    expect(run.notification?.messageId).toBe(n.MessageId);
  });

  it('writes the run manifest and the run report next to the stage reports', async () => {
    const report = await getJson<RunReport>(h.t.store, layout.runReport(runId));
    expect(report).toMatchObject({
      runId,
      status: 'SUCCEEDED',
      dataset: 'thelook',
      batch: 'e2e-1',
      manifest: { key: manifest.manifestKey, etag: manifest.etag },
      totals: { rowsRead: 989, valid: 989, rejected: 0, held: 0, duplicatesDropped: 0 },
    });
    expect(report.datesTouched).toHaveLength(30);
    expect(Object.keys(report.stages)).toEqual([...STAGES]);
    const keys = (await listAll(h.t.store, layout.runPrefix(runId))).map((o) => o.key).sort();
    expect(keys).toEqual(
      ['compute-kpi', 'manifest', 'report', 'upload', 'validate'].map(
        (f) => `runs/${runId}/${f}.json`,
      ),
    );
  });

  it('treats the same S3 event delivered again as a duplicate: nothing written, launched or sent', async () => {
    const before = await h.orchestration.runs.get(runId);
    const event = h.manifestEvent(manifest.manifestKey, manifest.etag);
    await Promise.all([
      h.orchestration.orchestrator.handle(event),
      h.orchestration.orchestrator.handle(event),
    ]);
    h.orchestration.deliver(event);
    await h.orchestration.idle();
    expect(await h.orchestration.runs.get(runId)).toEqual(before);
    expect(h.notifications(runId)).toHaveLength(1);
    expect(readdirSync(join(h.t.runtime.dataDir, 'logs', runId))).toHaveLength(3);
  });
});
