/**
 * upload: reads the run manifest, checks every declared file (exists, rows, sha256), and streams
 * each into raw Parquet under raw/<dataset>/<entity>/run=<run_id>/ with every value kept as text
 * plus its source file and row, so validate can account for every input row.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { layout } from '../contracts/layout.js';
import type { ManifestFile, RunManifest } from '../contracts/manifest.js';
import { emptyCounts, type EntityCounts, type FileReport } from '../contracts/report.js';
import { InputFileError, ManifestError, NotFoundError } from '../errors.js';
import { fileTraits, readRecords } from '../formats/index.js';
import type { ColumnDef, Value } from '../formats/parquet.js';
import { getProfile } from '../profiles/registry.js';
import { profileSettings, runKpis } from '../profiles/settings.js';
import type { ColumnSpec, EntitySpec, Profile } from '../profiles/types.js';
import type { ObjectStore } from '../ports/object-store.js';
import { StageThreads } from '../workers/threads.js';
import { PartWriter, removeStaleOutputs } from './outputs.js';
import type { StageConfig, StageContext } from './context.js';

/** Rows read from an input file at a time. */
const READ_BATCH_ROWS = 8192;
/**
 * raw/ parts hold at most this many rows whatever CARTPIPE_ROWS_PER_PART says: validate holds a
 * raw part in memory while each of its threads reads it (~16 MB here), and raw/ is read by no one
 * else, so smaller parts cost nothing but a few more requests.
 */
const RAW_ROWS_PER_PART = 250_000;

export interface UploadResult {
  files: FileReport[];
  entities: Record<string, EntityCounts>;
  outputs: string[];
}

/** The columns read from input files: all but the derived ones (validate computes those). */
export function readColumns(entity: EntitySpec): ColumnSpec[] {
  return entity.columns.filter((c) => !c.derive);
}

/** Raw schema of an entity: its columns as text, then where each row came from. */
export function rawSchema(entity: EntitySpec): ColumnDef[] {
  return [
    ...readColumns(entity).map((c) => ({ name: c.name, type: 'string' as const })),
    { name: '_source_file', type: 'string', required: true },
    { name: '_source_row', type: 'int', required: true },
    { name: '_problem', type: 'string' },
  ];
}

export function entityOf(profile: Profile, file: ManifestFile, baseName: string): EntitySpec {
  const entity = file.entity
    ? profile.entities.find((e) => e.name === file.entity)
    : profile.entities.find((e) => e.file.test(baseName));
  if (!entity) {
    const known = profile.entities.map((e) => e.name).join(', ');
    throw new ManifestError(
      'unknown_entity',
      file.entity
        ? `${file.key}: entity ${JSON.stringify(file.entity)} is not one of ${known}`
        : `${file.key}: no ${profile.name} entity matches this file name (entities: ${known}); set "entity" in the manifest`,
    );
  }
  return entity;
}

/** Counts the bytes of the input and hashes them (sha256) on the way through. */
function measuring(input: Readable): {
  stream: Readable;
  bytes: () => number;
  sha256: () => string;
} {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.byteLength;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  input.on('error', (e) => stream.destroy(e));
  stream.on('close', () => input.destroy());
  input.pipe(stream);
  let hex: string | undefined;
  return { stream, bytes: () => bytes, sha256: () => (hex ??= hash.digest('hex')) };
}

/** One input file converted: its report (outputs filled in by runUpload) and parts written. */
export interface ConvertedFile {
  report: FileReport;
  written: string[];
}

/** Work upload hands a worker thread: convert input file `index` of the run's manifest. */
export interface ConvertFileTask {
  kind: 'upload-file';
  run: RunManifest;
  index: number;
  config: StageConfig;
}

function describeFile(profile: Profile, file: ManifestFile) {
  const traits = fileTraits(file.key, file);
  return { file, traits, entity: entityOf(profile, file, traits.baseName) };
}

/**
 * Streams input file `index` of the manifest into raw Parquet parts of its entity, named after
 * the file's index (part-<file>-<n>), so files convert independently, on any thread, and a
 * re-run writes the same keys. Checks the manifest's row count and sha256 of the file.
 */
export async function convertFile(
  store: ObjectStore,
  config: StageConfig,
  run: RunManifest,
  index: number,
): Promise<ConvertedFile> {
  const { file, traits, entity } = describeFile(getProfile(run.dataset), run.files[index]!);
  const writer = new PartWriter(store, rawSchema(entity), {
    rowsPerPart: Math.min(config.CARTPIPE_ROWS_PER_PART, RAW_ROWS_PER_PART),
    // raw/ is read whole by validate and by no one else: no row group is ever skipped.
    statistics: false,
    file: index,
    // Validate decodes a raw row group at a time on each thread and holds its strings while it
    // works through them. Under 16k rows a decoded column (8 bytes a value) stays below V8's
    // 128 KB large-object size, so it dies young instead of waiting for a full collection:
    // 12k rows instead of 25k took upload's peak RSS at 5M rows from 465 to 355-385 MB and
    // validate's from 981 to 906 MB, at the same speed, for +1.2% raw/ bytes.
    rowGroupSize: 12_000,
    // Rows go to the encoder as each batch is read (their strings die young): a batch held until
    // its row group was full cost a quarter of upload's time in garbage collection.
    sliceRows: READ_BATCH_ROWS,
  });
  try {
    const prefix = layout.runOutputPrefix('raw', run.dataset, entity.name, run.runId);
    let input: Readable;
    try {
      input = await store.stream(file.key);
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new ManifestError(
          'manifest_file_missing',
          `${file.key} disappeared before it was read`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
    const measured = measuring(input);
    const names = readColumns(entity).map((c) => c.name);
    const batches = readRecords(measured.stream, {
      file: file.key,
      traits,
      columns: names,
      requiredColumns: readColumns(entity)
        .filter((c) => c.inHeader !== false)
        .map((c) => c.name),
      renames: entity.renames,
      encoding: file.encoding,
      delimiter: file.delimiter,
      sheet: file.sheet,
      batchSize: READ_BATCH_ROWS,
      maxBytes: config.CARTPIPE_MAX_FILE_BYTES,
      maxFieldLength: config.CARTPIPE_MAX_FIELD_CHARS,
      maxRowLength: config.CARTPIPE_MAX_ROW_CHARS,
    });
    for await (const batch of batches) {
      // Whole columns, as the reader built them: no row is copied on its way to the writer.
      const problems = new Array<Value>(batch.length).fill(null);
      for (const [i, problem] of batch.problems) problems[i] = problem.code;
      const columns: Value[][] = [
        ...names.map((n) => batch.columns[n]!),
        new Array<Value>(batch.length).fill(file.key),
        batch.sourceRows,
        problems,
      ];
      writer.appendColumns(prefix, columns, batch.length);
    }
    const rows = writer.rows;
    if (file.rows !== undefined && file.rows !== rows) {
      throw new InputFileError(
        'row_count_mismatch',
        file.key,
        `manifest declares ${file.rows} rows, the file has ${rows}`,
      );
    }
    const digest = measured.sha256();
    if (file.sha256 !== undefined && digest !== file.sha256.toLowerCase()) {
      throw new InputFileError(
        'sha256_mismatch',
        file.key,
        `manifest declares sha256 ${file.sha256}, the file has ${digest}`,
      );
    }
    const written = await writer.finish();
    return {
      report: {
        key: file.key,
        entity: entity.name,
        format: traits.format + (traits.gzip ? '+gzip' : ''),
        rows,
        bytes: measured.bytes(),
        outputs: [],
      },
      written,
    };
  } catch (error) {
    writer.discard();
    throw error;
  }
}

export async function runUpload(ctx: StageContext, run: RunManifest): Promise<UploadResult> {
  const profile = getProfile(run.dataset);
  // A run whose options configure the KPIs wrongly fails here, before any data is read.
  runKpis(profile, run.options, profileSettings(ctx.config));
  const files = run.files.map((file) => describeFile(profile, file));
  const sizes: number[] = [];
  for (const { file } of files) {
    const info = await ctx.store.head(file.key);
    if (!info) {
      throw new ManifestError(
        'manifest_file_missing',
        `${file.key} is listed in the manifest but does not exist`,
      );
    }
    sizes.push(info.size);
  }

  const threads = new StageThreads(ctx, files.length);
  const converted = new Array<ConvertedFile>(files.length);
  try {
    // Largest first, so the last file to finish is a small one; parts are named by manifest
    // index, so the order of work changes no key.
    const order = files.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
    await threads.map(order, async (index, _, lane) => {
      const task: ConvertFileTask = { kind: 'upload-file', run, index, config: ctx.config };
      const result = await lane.run(task, (store) => convertFile(store, ctx.config, run, index));
      ctx.log.info('file read', {
        file: result.report.key,
        entity: result.report.entity,
        rows: result.report.rows,
      });
      converted[index] = result;
    });
  } finally {
    await threads.close();
  }

  const entities: Record<string, EntityCounts> = {};
  const written = new Map<string, string[]>();
  for (const { report, written: keys } of converted) {
    (entities[report.entity] ??= emptyCounts()).rowsIn += report.rows;
    if (!written.has(report.entity)) written.set(report.entity, []);
    written.get(report.entity)!.push(...keys);
  }
  for (const keys of written.values()) keys.sort();
  const reports = converted.map(({ report }) => ({
    ...report,
    outputs: [...written.get(report.entity)!],
  }));
  // What an earlier attempt wrote and this one did not (an entity the manifest no longer has,
  // fewer parts) is deleted.
  for (const entity of profile.entities) {
    await removeStaleOutputs(
      ctx.store,
      layout.entityPrefix('raw', run.dataset, entity.name),
      run.runId,
      new Set(written.get(entity.name) ?? []),
    );
  }
  return {
    files: reports,
    entities,
    outputs: [...written.values()].flat().sort(),
  };
}
