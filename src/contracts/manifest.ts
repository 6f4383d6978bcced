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

/** Bounds on what one manifest may ask for (CARTPIPE_MAX_MANIFEST_BYTES / _FILES). */
export interface ManifestLimits {
  /** Largest manifest object read, in bytes. */
  maxBytes: number;
  /** Most files one manifest may list (or its batch folder may hold). */
  maxFiles: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = { maxBytes: 1024 * 1024, maxFiles: 1000 };

/** Deepest nesting accepted in the manifest's options (JSON.stringify recurses: no stack blowup). */
export const MAX_OPTIONS_DEPTH = 32;
/** S3's longest key, in UTF-8 bytes: a longer one could only fail later, at S3. */
const MAX_KEY_BYTES = 1024;

/** Nesting depth of a parsed JSON value, measured without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_OPTIONS_DEPTH) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Parses manifest JSON text; `manifestKey` provides the default batch (the file's stem).
 * A leading byte order mark is ignored (Windows editors write one).
 * @throws ManifestError with code `manifest_invalid`, `manifest_too_many_files` or one of the
 * file key codes of {@link assertIncomingKey}.
 */
export function parseManifest(
  text: string,
  manifestKey: string,
  limits: Pick<ManifestLimits, 'maxFiles'> = DEFAULT_MANIFEST_LIMITS,
): Manifest & { batch: string } {
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (cause) {
    throw new ManifestError('manifest_invalid', `${manifestKey} is not valid JSON`, { cause });
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ManifestError('manifest_invalid', `${manifestKey}: ${why.slice(0, 5).join('; ')}`);
  }
  if (parsed.data.options !== undefined && depthOf(parsed.data.options) > MAX_OPTIONS_DEPTH) {
    throw new ManifestError(
      'manifest_invalid',
      `${manifestKey}: options are nested deeper than ${MAX_OPTIONS_DEPTH} levels`,
    );
  }
  const stem = manifestKey.replace(/^.*\//, '').replace(/\.json$/, '');
  const batch = parsed.data.batch ?? stem;
  if (!batchName.safeParse(batch).success) {
    throw new ManifestError(
      'manifest_invalid',
      `${manifestKey}: batch name ${JSON.stringify(batch.slice(0, 200))} is not allowed`,
    );
  }
  const files = parsed.data.files ?? [];
  if (files.length > limits.maxFiles) {
    throw new ManifestError(
      'manifest_too_many_files',
      `${manifestKey}: lists ${files.length} files, more than the ${limits.maxFiles} allowed (CARTPIPE_MAX_MANIFEST_FILES); split the batch`,
    );
  }
  for (const file of files) assertIncomingKey(file.key, manifestKey);
  return { ...parsed.data, batch };
}

/** Characters no key of ours has: controls (C0, DEL, C1) and bidirectional overrides. */
// eslint-disable-next-line no-control-regex
const ODD_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Half a UTF-16 surrogate pair ("\ud800" in JSON): no UTF-8 encoding exists for it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Files may only come from incoming/ of the pipeline's bucket, named as plainly as S3 stores
 * them: never another bucket or URL, never outputs, never outside via `..` (also not spelled
 * with backslashes or percent-encoding, which S3 keeps literally but other tools decode).
 * @throws ManifestError `manifest_file_outside_incoming`, `manifest_file_other_bucket`,
 * `manifest_file_key_invalid` or `manifest_file_key_too_long`.
 */
export function assertIncomingKey(key: string, manifestKey: string): void {
  const shown = JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}...` : key);
  const refuse = (code: string, why: string) => {
    throw new ManifestError(code, `${manifestKey}: file key ${shown} ${why}`);
  };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(key)) {
    refuse(
      'manifest_file_other_bucket',
      `is a URL: files are read from this bucket only; list their keys (${INCOMING_PREFIX}...)`,
    );
  }
  if (LONE_SURROGATE.test(key) || ODD_CHARACTERS.test(key)) {
    refuse('manifest_file_key_invalid', 'holds control, direction or invalid characters');
  }
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
    refuse('manifest_file_key_too_long', `is longer than S3's ${MAX_KEY_BYTES} bytes`);
  }
  if (key.includes('\\') || /%[0-9A-Fa-f]{2}/.test(key)) {
    refuse(
      'manifest_file_key_invalid',
      'holds a backslash or a percent-encoded sequence: write the key exactly as the bucket has it',
    );
  }
  const segments = key.split('/');
  if (
    !key.startsWith(INCOMING_PREFIX) ||
    segments.some((s) => s === '..' || s === '.' || s === '')
  ) {
    refuse('manifest_file_outside_incoming', `must be a plain key under ${INCOMING_PREFIX}`);
  }
}
