import { createHash } from 'node:crypto';

/**
 * run_id = batch + a short hash of the manifest key and its ETag (or version id). A duplicate
 * S3 event for the same object maps to the same run; a manifest re-uploaded with new content
 * (new ETag) is a new run. The batch prefix keeps ids readable in the console.
 */
export function deriveRunId(manifestKey: string, etagOrVersion: string): string {
  const stem = manifestKey
    .replace(/^.*\//, '')
    .replace(/\.json$/, '')
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 64);
  const hash = createHash('sha256')
    .update(`${manifestKey}\n${etagOrVersion.replace(/"/g, '')}`)
    .digest('hex')
    .slice(0, 12);
  return `${stem}-${hash}`;
}
