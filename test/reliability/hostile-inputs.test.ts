import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { layout } from '../../src/contracts/layout.js';
import type { EntityCounts } from '../../src/contracts/report.js';
import { fileTraits } from '../../src/formats/index.js';
import { resolveRunManifest } from '../../src/orchestrator/run-manifest.js';
import { runIdOf } from '../../src/orchestrator/run-manifest.js';
import { getProfile } from '../../src/profiles/registry.js';
import { putJson } from '../../src/ports/object-store.js';
import { entityOf } from '../../src/stages/upload.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import { ScriptedLauncher, startHarness, type Harness } from '../orchestration/support.js';
import { generate, HOSTILE, loadCorpus, type HostileCase } from './hostile.js';

/**
 * Must show 4 (corpus): every malformed or hostile input of test/fixtures/hostile/cases.json
 * gets exactly the outcome written next to it, with a reason code:
 * - manifests go through the orchestrator core (on the local S3 and DynamoDB): the run fails
 *   before any stage is launched, with one notification naming the code, and the handler
 *   never throws (a throw would be retried and the run left unfinished);
 * - data files go through upload and validate: upload refuses the file with a coded error
 *   naming it, or validate rejects exactly the expected rows per reason, and every row read is
 *   accounted for (valid + rejected + held + dropped duplicates).
 * The limits are set low (cases.json "limits") so that small generated inputs cross them.
 */
const corpus = loadCorpus();
const limit = (name: string) => corpus.limits[name]!;
const manifestCases = corpus.cases.filter((c) => c.expect.at === 'manifest');
const fileCases = corpus.cases.filter((c) => c.expect.at !== 'manifest');

async function bytesOf(c: HostileCase, source: string | undefined): Promise<Buffer> {
  if (c.generate) return generate(c.generate, c.id);
  return readFileSync(join(HOSTILE, source!));
}

describe('the hostile-input corpus', () => {
  it('holds at least 40 cases, each with a reason code or exact reject counts', () => {
    const refused = corpus.cases.filter(
      (c) =>
        'code' in c.expect || Object.keys((c.expect as { rejects: object }).rejects).length > 0,
    );
    expect(refused.length).toBeGreaterThanOrEqual(40);
    expect(new Set(corpus.cases.map((c) => c.id)).size).toBe(corpus.cases.length);
  });
});

describe('hostile manifests, handled by the orchestrator', () => {
  let h: Harness;
  const launcher = new ScriptedLauncher();
  beforeAll(async () => {
    h = await startHarness({
      launcher,
      settings: {
        manifestLimits: {
          maxBytes: limit('CARTPIPE_MAX_MANIFEST_BYTES'),
          maxFiles: limit('CARTPIPE_MAX_MANIFEST_FILES'),
        },
      },
    });
  });
  afterAll(async () => h.stop());

  it.each(manifestCases.map((c) => [c.id, c] as const))(
    '%s: the run fails before upload with its code, notified once',
    async (_id, c) => {
      const key = layout.manifestKey(c.id);
      const body =
        c.manifest !== undefined
          ? Buffer.from(JSON.stringify(c.manifest).replaceAll('{batch}', c.id))
          : await bytesOf(c, c.manifestFile);
      const put = await h.t.store.put(key, body);
      const runId = runIdOf({ key, etag: put.etag });
      // The server's own event drives the orchestrator; deliver it once more, and directly, to
      // see that handling a hostile manifest never throws.
      await expect(
        h.orchestration.orchestrator.handle(h.manifestEvent(key, put.etag)),
      ).resolves.toBeUndefined();
      const run = await h.settled(runId);
      expect(run).toMatchObject({
        status: 'FAILED',
        failure: { code: (c.expect as { code: string }).code },
      });
      expect(run.stages).toEqual({});
      expect(launcher.requests.filter((r) => r.runId === runId)).toEqual([]);
      const sent = h.notifications(runId);
      expect(sent).toHaveLength(1);
      expect(sent[0]!.notification.Message).toContain((c.expect as { code: string }).code);
    },
  );
});

describe('hostile data files, read by upload and validate', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => t.stop());

  const overrides = () => ({
    CARTPIPE_MAX_FILE_BYTES: limit('CARTPIPE_MAX_FILE_BYTES'),
    CARTPIPE_MAX_FIELD_CHARS: limit('CARTPIPE_MAX_FIELD_CHARS'),
    CARTPIPE_MAX_ROW_CHARS: limit('CARTPIPE_MAX_ROW_CHARS'),
    CARTPIPE_REJECT_THRESHOLD: 1,
  });

  it.each(fileCases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const fileKey = `${layout.incomingPrefix(c.id)}${c.as!}`;
    await t.store.put(fileKey, await bytesOf(c, c.file));
    const manifestKey = layout.manifestKey(c.id);
    const put = await putJson(t.store, manifestKey, {
      dataset: 'thelook',
      batch: c.id,
      files: [{ key: fileKey, ...c.entry }],
    });
    const run = await resolveRunManifest(
      t.store,
      { key: manifestKey, etag: put.etag },
      new Date('2026-04-01T00:00:00Z'),
    );
    await putJson(t.store, layout.runManifest(run.runId), run);
    const reports = await t.runStages(run.runId, ['upload', 'validate'], overrides());
    for (const r of reports) expect(r.error?.code).not.toBe('internal_error');

    if (c.expect.at === 'upload') {
      expect(reports).toHaveLength(1);
      expect(reports[0]).toMatchObject({ status: 'FAILED', error: { code: c.expect.code } });
      expect(reports[0]!.error!.message).toContain(fileKey.slice(0, 60));
      return;
    }
    expect(reports.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const profile = getProfile('thelook');
    const entity = entityOf(profile, { key: fileKey, ...c.entry }, fileTraits(fileKey).baseName);
    const counts: EntityCounts = reports[1]!.entities![entity.name]!;
    const expected = c.expect as { rejects: Record<string, number>; valid?: number };
    expect(counts.rejectsByReason).toEqual(expected.rejects);
    if (expected.valid !== undefined) expect(counts.valid).toBe(expected.valid);
    expect(counts.rowsIn).toBe(
      counts.valid + counts.rejected + counts.held + counts.duplicatesDropped,
    );
    expect(counts.rowsIn).toBe(reports[0]!.entities![entity.name]!.rowsIn);
  });
});
