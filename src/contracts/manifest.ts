/**
 * The manifest ("metadata object") a user drops under metadata/<batch>.json, and the run
 * manifest the pipeline derives from it under runs/<run_id>/manifest.json.
 */
import { z } from 'zod';
import { ManifestError } from '../errors.js';
import { INCOMING_PREFIX } from './layout.js';

export const FILE_FORMATS = ['csv', 'tsv', 'json', 'ndjson', 'xlsx'] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

const batchName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'letters, digits, . _ - (max 128), not starting with . _ -',
  );

export const manifestFileSchema = z.strictObject({
  key: z.string().min(1),
  entity: z.string().min(1).optional(),
  format: z.enum(FILE_FORMATS).optional(),
  compression: z.enum(['gzip', 'none']).optional(),
  encoding: z.enum(['utf-8', 'latin1']).optional(),
  delimiter: z.string().length(1).optional(),
  sheet: z.string().optional(),
  rows: z.number().int().nonnegative().optional(),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/i)
    .optional(),
});
export type ManifestFile = z.infer<typeof manifestFileSchema>;

export const manifestSchema = z.strictObject({
  dataset: z.string().min(1),
  batch: batchName.optional(),
  files: z.array(manifestFileSchema).optional(),
  options: z.record(z.string(), z.unknown()).optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** What upload works from: the manifest with batch and file list resolved. */
export interface RunManifest {
  runId: string;
  dataset: string;
  batch: string;
  manifestKey: string;
  manifestEtag: string;
  /** When the run was created: orders versions of the same key across runs ("latest wins"). */
  createdAt: string;
  files: ManifestFile[];
  options: Record<string, unknown>;
}

/**
 * Parses manifest JSON text; `manifestKey` provides the default batch (the file's stem).
 * @throws ManifestError with code `manifest_invalid`.
 */
export function parseManifest(text: string, manifestKey: string): Manifest & { batch: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ManifestError('manifest_invalid', `${manifestKey} is not valid JSON`, { cause });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ManifestError('manifest_invalid', `${manifestKey}: ${why.join('; ')}`);
  }
  const stem = manifestKey.replace(/^.*\//, '').replace(/\.json$/, '');
  const batch = parsed.data.batch ?? stem;
  if (!batchName.safeParse(batch).success) {
    throw new ManifestError(
      'manifest_invalid',
      `${manifestKey}: batch name ${JSON.stringify(batch)} is not allowed`,
    );
  }
  for (const file of parsed.data.files ?? []) assertIncomingKey(file.key, manifestKey);
  return { ...parsed.data, batch };
}

/** Files may only come from incoming/: never from outputs, never outside via `..`. */
export function assertIncomingKey(key: string, manifestKey: string): void {
  const segments = key.split('/');
  if (
    !key.startsWith(INCOMING_PREFIX) ||
    segments.some((s) => s === '..' || s === '.' || s === '') ||
    [...key].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
  ) {
    throw new ManifestError(
      'manifest_file_outside_incoming',
      `${manifestKey}: file key ${JSON.stringify(key)} must be a plain key under ${INCOMING_PREFIX}`,
    );
  }
}
