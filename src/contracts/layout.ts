/**
 * The bucket layout is a contract (DESIGN.md "Bucket layout"): every key the pipeline reads or
 * writes is built here, so nothing else concatenates prefixes. Outputs never land under
 * `metadata/` or `incoming/`, which is what keeps the pipeline from triggering itself.
 */

export const STAGES = ['upload', 'validate', 'compute-kpi'] as const;
export type Stage = (typeof STAGES)[number];

export const INCOMING_PREFIX = 'incoming/';
export const MANIFEST_PREFIX = 'metadata/';
export const MANIFEST_SUFFIX = '.json';

export type OutputArea = 'raw' | 'validated' | 'held' | 'rejected';

const digits = (n: number) => String(n).padStart(5, '0');
/** part-NNNNN, or part-FFFFF-NNNNN for upload's parts of input file F (manifest order). */
const part = (index: number, file?: number): string =>
  `part-${file === undefined ? '' : `${digits(file)}-`}${digits(index)}.parquet`;

export const layout = {
  incomingPrefix: (batch: string) => `${INCOMING_PREFIX}${batch}/`,
  manifestKey: (batch: string) => `${MANIFEST_PREFIX}${batch}${MANIFEST_SUFFIX}`,
  isManifestKey: (key: string) =>
    key.startsWith(MANIFEST_PREFIX) && key.endsWith(MANIFEST_SUFFIX) && key.length > 14,

  runPrefix: (runId: string) => `runs/${runId}/`,
  runManifest: (runId: string) => `runs/${runId}/manifest.json`,
  stageReport: (runId: string, stage: Stage) => `runs/${runId}/${stage}.json`,
  runReport: (runId: string) => `runs/${runId}/report.json`,

  entityPrefix: (area: OutputArea, dataset: string, entity: string) =>
    `${area}/${dataset}/${entity}/`,
  /** Folder of one run's output; `date` only for validated rows of dated entities. */
  runOutputPrefix: (
    area: OutputArea,
    dataset: string,
    entity: string,
    runId: string,
    date?: string,
  ) => `${area}/${dataset}/${entity}/${date ? `date=${date}/` : ''}run=${runId}/`,
  datePrefix: (dataset: string, entity: string, date: string) =>
    `validated/${dataset}/${entity}/date=${date}/`,
  /** Names sort in write order; upload's carry the input file's index, so files convert apart. */
  partKey: (prefix: string, index: number, file?: number) => `${prefix}${part(index, file)}`,

  kpiPrefix: (dataset: string, kpi: string) => `kpis/${dataset}/${kpi}/`,
  kpiPartKey: (dataset: string, kpi: string, date: string) =>
    `kpis/${dataset}/${kpi}/date=${date}/${part(0)}`,
};

/** Parses `.../date=YYYY-MM-DD/run=ID/part-N.parquet` (either segment optional). */
export function parseOutputKey(key: string): { date?: string; runId?: string } {
  const date = /\/date=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
  const runId = /\/run=([^/]+)\//.exec(key)?.[1];
  return { ...(date ? { date } : {}), ...(runId ? { runId } : {}) };
}

/**
 * S3 event keys are URL-encoded with '+' for spaces; s3rver's are not encoded. Decoding a key
 * that has no escapes is a no-op, so both sources go through this.
 */
export function decodeEventKey(key: string): string {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return key;
  }
}
