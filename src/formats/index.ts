/**
 * Input formats: picks the reader for a file from its extension (or the manifest's override)
 * and yields record batches. Every format may be gzip-compressed (.gz or the manifest's
 * "compression"); text formats are UTF-8 or latin-1, declared or detected (text-input.ts).
 * Adding a format is one reader plus one case here.
 */
import type { Readable } from 'node:stream';
import { InputFileError } from '../errors.js';
import type { FileFormat } from '../contracts/manifest.js';
import { readCsv } from './csv.js';
import { readJson, readNdjson } from './json.js';
import type { RecordBatch, ReadOptions } from './records.js';
import { bytesOf, textOf } from './text-input.js';
import { readXlsx } from './xlsx.js';

export interface FileTraits {
  format: FileFormat;
  gzip: boolean;
  /** Base name without the compression suffix, for entity patterns. */
  baseName: string;
}

const EXTENSIONS: Record<string, FileFormat> = {
  csv: 'csv',
  txt: 'csv',
  tsv: 'tsv',
  tab: 'tsv',
  json: 'json',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  xlsx: 'xlsx',
};

/** Format and compression of a key, by extension unless overridden. */
export function fileTraits(
  key: string,
  override?: { format?: FileFormat; compression?: 'gzip' | 'none' },
): FileTraits {
  let name = key.replace(/^.*\//, '');
  const gzByName = /\.gz$/i.test(name);
  if (gzByName) name = name.slice(0, -3);
  const gzip = override?.compression ? override.compression === 'gzip' : gzByName;
  const ext = /\.([^.]+)$/.exec(name)?.[1]?.toLowerCase() ?? '';
  const format = override?.format ?? EXTENSIONS[ext];
  if (!format) {
    throw new InputFileError(
      'unknown_format',
      key,
      `cannot tell the format from the extension ".${ext}"; set "format" for this file in the manifest`,
    );
  }
  return { format, gzip, baseName: name };
}

export interface OpenOptions extends ReadOptions {
  traits: FileTraits;
  maxBytes?: number;
}

/** Record batches of one input stream. */
export function readRecords(input: Readable, options: OpenOptions): AsyncGenerator<RecordBatch> {
  const bytes = bytesOf(input, {
    file: options.file,
    gzip: options.traits.gzip,
    maxBytes: options.maxBytes,
  });
  switch (options.traits.format) {
    case 'csv':
      return readCsv(textOf(bytes, options), options);
    case 'tsv':
      return readCsv(textOf(bytes, options), { ...options, delimiter: options.delimiter ?? '\t' });
    case 'json':
      return readJson(textOf(bytes, options), options);
    case 'ndjson':
      return readNdjson(textOf(bytes, options), options);
    case 'xlsx':
      return readXlsx(bytes, options);
    default:
      throw new InputFileError(
        'unsupported_format',
        options.file,
        `format ${String(options.traits.format)} is not supported`,
      );
  }
}
