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
import { PartWriter, removeStaleOutputs } from './outputs.js';
import type { StageContext } from './context.js';

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
    { name: '_source_file', type: 'string' },
    { name: '_source_row', type: 'int' },
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

export async function runUpload(ctx: StageContext, run: RunManifest): Promise<UploadResult> {
  const profile = getProfile(run.dataset);
  // A run whose options configure the KPIs wrongly fails here, before any data is read.
  runKpis(profile, run.options, profileSettings(ctx.config));
  const files = run.files.map((file) => {
    const traits = fileTraits(file.key, file);
    return { file, traits, entity: entityOf(profile, file, traits.baseName) };
  });
  for (const { file } of files) {
    if (!(await ctx.store.head(file.key))) {
      throw new ManifestError(
        'manifest_file_missing',
        `${file.key} is listed in the manifest but does not exist`,
      );
    }
  }

  const writers = new Map<string, PartWriter>();
  const writerOf = (entity: EntitySpec) => {
    let w = writers.get(entity.name);
    if (!w) {
      w = new PartWriter(ctx.store, rawSchema(entity), {
        rowsPerPart: ctx.config.CARTPIPE_ROWS_PER_PART,
        // raw/ is read whole by validate and by no one else: no row group is ever skipped.
        statistics: false,
      });
      writers.set(entity.name, w);
    }
    return w;
  };
  const entities: Record<string, EntityCounts> = {};
  const reports: FileReport[] = [];
  try {
    for (const { file, traits, entity } of files) {
      const writer = writerOf(entity);
      const prefix = layout.runOutputPrefix('raw', run.dataset, entity.name, run.runId);
      const counts = (entities[entity.name] ??= emptyCounts());
      const before = writer.rows;
      let input: Readable;
      try {
        input = await ctx.store.stream(file.key);
      } catch (error) {
        if (error instanceof NotFoundError) {
          throw new ManifestError(
            'manifest_file_missing',
            `${file.key} disappeared before it was read`,
            { cause: error },
          );
        }
        throw error;
      }
      const measured = measuring(input);
      const batches = readRecords(measured.stream, {
        file: file.key,
        traits,
        columns: readColumns(entity).map((c) => c.name),
        requiredColumns: readColumns(entity)
          .filter((c) => c.inHeader !== false)
          .map((c) => c.name),
        renames: entity.renames,
        encoding: file.encoding,
        delimiter: file.delimiter,
        sheet: file.sheet,
        maxBytes: ctx.config.CARTPIPE_MAX_FILE_BYTES,
        maxFieldLength: ctx.config.CARTPIPE_MAX_FIELD_CHARS,
        maxRowLength: ctx.config.CARTPIPE_MAX_ROW_CHARS,
      });
      const names = readColumns(entity).map((c) => c.name);
      const row: Value[] = new Array(names.length + 3);
      for await (const batch of batches) {
        for (let i = 0; i < batch.length; i++) {
          for (let c = 0; c < names.length; c++) row[c] = batch.columns[names[c]!]![i] ?? null;
          row[names.length] = file.key;
          row[names.length + 1] = batch.sourceRows[i]!;
          row[names.length + 2] = batch.problems.get(i)?.code ?? null;
          writer.appendRow(prefix, row);
        }
      }
      const rows = writer.rows - before;
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
      counts.rowsIn += rows;
      ctx.log.info('file read', { file: file.key, entity: entity.name, rows });
      reports.push({
        key: file.key,
        entity: entity.name,
        format: traits.format + (traits.gzip ? '+gzip' : ''),
        rows,
        bytes: measured.bytes(),
        outputs: [],
      });
    }
    const outputs: string[] = [];
    for (const [entityName, writer] of writers) {
      const written = await writer.finish();
      outputs.push(...written);
      await removeStaleOutputs(
        ctx.store,
        layout.entityPrefix('raw', run.dataset, entityName),
        run.runId,
        new Set(written),
      );
      for (const r of reports) if (r.entity === entityName) r.outputs = written;
    }
    // Entities this run no longer has (manifest changed between attempts) lose their old raw parts.
    for (const entity of profile.entities) {
      if (!writers.has(entity.name)) {
        await removeStaleOutputs(
          ctx.store,
          layout.entityPrefix('raw', run.dataset, entity.name),
          run.runId,
          new Set(),
        );
      }
    }
    return { files: reports, entities, outputs: outputs.sort() };
  } catch (error) {
    for (const w of writers.values()) w.discard();
    throw error;
  }
}
