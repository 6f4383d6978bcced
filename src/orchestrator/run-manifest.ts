/**
 * Turns a user's manifest into the run manifest the stages work from (runs/<run_id>/manifest.json):
 * batch resolved, file list resolved (default: everything under incoming/<batch>/), dataset known.
 */
import { layout } from '../contracts/layout.js';
import {
  assertIncomingKey,
  DEFAULT_MANIFEST_LIMITS,
  parseManifest,
  type ManifestLimits,
  type RunManifest,
} from '../contracts/manifest.js';
import { deriveRunId } from '../contracts/run-id.js';
import { ManifestError } from '../errors.js';
import { getProfile } from '../profiles/registry.js';
import type { ObjectStore } from '../ports/object-store.js';

export interface ManifestObject {
  key: string;
  etag: string;
}

/** run_id of a manifest object (same object, same run: duplicate events collapse). */
export function runIdOf(manifest: ManifestObject): string {
  return deriveRunId(manifest.key, manifest.etag);
}

/**
 * Reads and checks the manifest, resolves its files. The manifest's size is checked before it
 * is read and the number of files before any is looked up, so a hostile manifest costs the
 * orchestrator one HEAD, not its memory or its time limit.
 * @throws ManifestError (manifest_invalid, manifest_too_large, manifest_too_many_files,
 * unknown_dataset, manifest_file_missing, manifest_empty, the file key codes)
 */
export async function resolveRunManifest(
  store: ObjectStore,
  manifest: ManifestObject,
  createdAt: Date,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS,
): Promise<RunManifest> {
  const size = (await store.head(manifest.key))?.size;
  if (size !== undefined && size > limits.maxBytes) {
    throw new ManifestError(
      'manifest_too_large',
      `${manifest.key} is ${size} bytes, more than the ${limits.maxBytes} allowed (CARTPIPE_MAX_MANIFEST_BYTES)`,
    );
  }
  const text = Buffer.from(await store.get(manifest.key)).toString('utf8');
  const parsed = parseManifest(text, manifest.key, limits);
  getProfile(parsed.dataset);
  let files = parsed.files;
  if (!files) {
    files = [];
    for await (const o of store.list(layout.incomingPrefix(parsed.batch))) {
      if (o.key.endsWith('/')) continue;
      if (files.length >= limits.maxFiles) {
        throw new ManifestError(
          'manifest_too_many_files',
          `${manifest.key}: ${layout.incomingPrefix(parsed.batch)} holds more than the ${limits.maxFiles} files allowed (CARTPIPE_MAX_MANIFEST_FILES); split the batch`,
        );
      }
      assertIncomingKey(o.key, manifest.key);
      files.push({ key: o.key });
    }
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
