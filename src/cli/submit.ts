/**
 * Puts a batch into a bucket the way a user would: data files under incoming/<batch>/, then the
 * manifest under metadata/<batch>.json (its creation is what starts a run).
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { layout } from '../contracts/layout.js';
import type { Manifest } from '../contracts/manifest.js';
import { putJson, type ObjectStore } from '../ports/object-store.js';

export interface LocalFile {
  path: string;
  /** Name under incoming/<batch>/. */
  name: string;
}

const DATA_FILE = /\.(csv|tsv|tab|txt|json|ndjson|jsonl|xlsx)(\.gz)?$/i;

/**
 * Files of the given paths. Folders are walked (hidden entries skipped) and only their data files
 * are taken (csv, tsv, json, ndjson, xlsx, optionally .gz), so a README next to the data is left
 * out; a file named explicitly is always taken. Names keep their subfolders.
 */
export function expandPaths(paths: readonly string[], skipped: string[] = []): LocalFile[] {
  const out: LocalFile[] = [];
  const walk = (root: string, dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(root, path);
      else if (entry.isFile() && !DATA_FILE.test(entry.name)) skipped.push(path);
      else if (entry.isFile()) out.push({ path, name: relative(root, path).split('\\').join('/') });
    }
  };
  for (const p of paths) {
    const path = resolve(p);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) throw new Error(`${p}: no such file or folder`);
    if (stat.isDirectory()) walk(path, path);
    else out.push({ path, name: basename(path) });
  }
  const names = new Set<string>();
  for (const f of out) {
    if (names.has(f.name))
      throw new Error(`two input files would both be named incoming/<batch>/${f.name}`);
    names.add(f.name);
  }
  if (out.length === 0) throw new Error(`no files found in ${paths.join(', ')}`);
  return out;
}

/** A batch name from the dataset and the current time: thelook-20261125-091100. */
export function defaultBatchName(dataset: string, now = new Date()): string {
  return `${dataset}-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`;
}

export interface Submitted {
  batch: string;
  manifestKey: string;
  manifestEtag: string;
  files: string[];
}

export async function submitBatch(
  store: ObjectStore,
  options: {
    dataset: string;
    batch: string;
    files: readonly LocalFile[];
    options?: Record<string, unknown>;
  },
): Promise<Submitted> {
  const keys: string[] = [];
  for (const file of options.files) {
    const key = `${layout.incomingPrefix(options.batch)}${file.name}`;
    await store.putFile(key, file.path);
    keys.push(key);
  }
  const manifest: Manifest = {
    dataset: options.dataset,
    batch: options.batch,
    files: keys.map((key) => ({ key })),
    ...(options.options ? { options: options.options } : {}),
  };
  const manifestKey = layout.manifestKey(options.batch);
  const put = await putJson(store, manifestKey, manifest);
  return { batch: options.batch, manifestKey, manifestEtag: put.etag, files: keys };
}
