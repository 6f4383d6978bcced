/**
 * Turns a user's manifest into the run manifest the stages work from (runs/<run_id>/manifest.json):
 * batch resolved, file list resolved (default: everything under incoming/<batch>/), dataset known.
 */
import { layout } from '../contracts/layout.js';
import { parseManifest, type RunManifest } from '../contracts/manifest.js';
import { deriveRunId } from '../contracts/run-id.js';
import { ManifestError } from '../errors.js';
import { getProfile } from '../profiles/registry.js';
import { listAll, type ObjectStore } from '../ports/object-store.js';

export interface ManifestObject {
  key: string;
  etag: string;
}

/** run_id of a manifest object (same object, same run: duplicate events collapse). */
export function runIdOf(manifest: ManifestObject): string {
  return deriveRunId(manifest.key, manifest.etag);
}

/**
 * Reads and checks the manifest, resolves its files.
 * @throws ManifestError (manifest_invalid, unknown_dataset, manifest_file_missing, manifest_empty)
 */
export async function resolveRunManifest(
  store: ObjectStore,
  manifest: ManifestObject,
  createdAt: Date,
): Promise<RunManifest> {
  const text = Buffer.from(await store.get(manifest.key)).toString('utf8');
  const parsed = parseManifest(text, manifest.key);
  getProfile(parsed.dataset);
  let files = parsed.files;
  if (!files) {
    const listed = await listAll(store, layout.incomingPrefix(parsed.batch));
    files = listed.filter((o) => !o.key.endsWith('/')).map((o) => ({ key: o.key }));
    if (files.length === 0) {
      throw new ManifestError(
        'manifest_empty',
        `${manifest.key}: no files listed and nothing under ${layout.incomingPrefix(parsed.batch)}`,
      );
    }
  } else {
    const missing: string[] = [];
    for (const f of files) if (!(await store.head(f.key))) missing.push(f.key);
    if (missing.length > 0) {
      throw new ManifestError(
        'manifest_file_missing',
        `${manifest.key}: listed file(s) not found: ${missing.join(', ')}`,
      );
    }
  }
  return {
    runId: runIdOf(manifest),
    dataset: parsed.dataset,
    batch: parsed.batch,
    manifestKey: manifest.key,
    manifestEtag: manifest.etag,
    createdAt: createdAt.toISOString(),
    files,
    options: parsed.options ?? {},
  };
}
