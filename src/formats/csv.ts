/**
 * Streaming CSV/TSV reader. papaparse's core Parser is driven chunk by chunk from an async
 * iterator, so reading is pulled by the consumer (bounded memory) and text arrives already
 * decoded (papaparse corrupts multi-byte characters split across raw Buffer chunks).
 * Columns are mapped by header name: the thelook files order their columns differently.
 */
import Papa from 'papaparse';
import { InputFileError } from '../errors.js';
import {
  DEFAULT_MAX_FIELD_LENGTH,
  DEFAULT_MAX_ROW_LENGTH,
  RecordBatchBuilder,
  type RecordBatch,
  type ReadOptions,
} from './records.js';

const CANDIDATE_DELIMITERS = [',', ';', '\t', '|'];

interface PapaParser {
  parse(input: string, baseIndex: number, ignoreLastRow: boolean): Papa.ParseResult<string[]>;
}
const PapaParserClass = (Papa as unknown as { Parser: new (config: object) => PapaParser }).Parser;

/** Delimiter of a header line: the configured one, else the candidate that splits it most. */
export function detectDelimiter(headerLine: string, configured?: string): string {
  if (configured) return configured;
  let best = ',';
  let bestCount = 0;
  for (const candidate of CANDIDATE_DELIMITERS) {
    const count = headerLine.split(candidate).length - 1;
    if (count > bestCount) {
      best = candidate;
      bestCount = count;
    }
  }
  return best;
}

/**
 * Reads CSV text chunks into record batches of the declared columns.
 * @throws InputFileError `empty_file`, `missing_columns`, `duplicate_header`.
 */
export async function* readCsv(
  text: AsyncIterable<string>,
  options: ReadOptions,
): AsyncGenerator<RecordBatch> {
  const batchSize = options.batchSize ?? 50_000;
  const maxField = options.maxFieldLength ?? DEFAULT_MAX_FIELD_LENGTH;
  const maxRow = options.maxRowLength ?? DEFAULT_MAX_ROW_LENGTH;
  let parser: PapaParser | undefined;
  let pending = '';
  let header: string[] | undefined;
  let indexOf: number[] = [];
  let builder: RecordBatchBuilder | undefined;
  let rowNumber = 0;

  const onHeader = (fields: string[]): void => {
    header = fields.map((f) => f.trim());
    const renames = options.renames ?? {};
    const mapped = header.map((h) => renames[h] ?? h);
    const seen = new Set<string>();
    for (const name of mapped) {
      if (seen.has(name) && options.columns.includes(name)) {
        throw new InputFileError('duplicate_header', options.file, `column ${name} appears twice`, {
          line: 1,
        });
      }
      seen.add(name);
    }
    assertColumns(mapped, options);
    indexOf = options.columns.map((c) => mapped.indexOf(c));
    builder = new RecordBatchBuilder(options.columns);
  };

  const onRow = (fields: string[]): void => {
    rowNumber += 1;
    if (fields.length !== header!.length) {
      builder!.pushFields(rowNumber, fields, indexOf, {
        code: 'ragged_row',
        message: `${fields.length} fields where the header has ${header!.length}`,
      });
      return;
    }
    let tooLong = false;
    for (let i = 0; i < fields.length; i++) if (fields[i]!.length > maxField) tooLong = true;
    if (!tooLong) {
      builder!.pushFields(rowNumber, fields, indexOf);
      return;
    }
    const values: (string | null)[] = indexOf.map((i) => {
      const v = i >= 0 ? fields[i] : undefined;
      return v === undefined || v === '' || v.length > maxField ? null : v;
    });
    builder!.push(rowNumber, values, {
      code: 'field_too_long',
      message: `a field is longer than ${maxField} characters`,
    });
  };

  const consume = function* (rows: string[][]): Generator<RecordBatch> {
    for (const fields of rows) {
      if (fields.length === 1 && fields[0] === '') continue; // blank line
      if (!header) {
        onHeader(fields);
        continue;
      }
      onRow(fields);
      if (builder!.length >= batchSize) yield builder!.take();
    }
  };

  /** What is left unparsed is one row still open: past the bound it will never be one. */
  const tooLong = () =>
    new InputFileError(
      'row_too_long',
      options.file,
      `${header ? `row ${rowNumber + 1}` : 'the header'} runs past ${maxRow} characters (a quote never closed, or no line breaks?)`,
      { line: rowNumber + (header ? 2 : 1) },
    );

  for await (const chunk of text) {
    pending += chunk;
    if (!parser) {
      const newlineAt = pending.search(/\r?\n/);
      if (newlineAt < 0 && pending.length <= maxRow) continue; // header not complete yet
      if (newlineAt < 0 || newlineAt > maxRow) throw tooLong();
      const headerLine = newlineAt < 0 ? pending : pending.slice(0, newlineAt);
      const delimiter = detectDelimiter(headerLine, options.delimiter);
      parser = new PapaParserClass({
        delimiter,
        newline: pending.includes('\r\n') ? '\r\n' : '\n',
      });
    }
    const result = parser.parse(pending, 0, true);
    pending = pending.slice(result.meta.cursor);
    yield* consume(result.data);
    if (pending.length > maxRow) throw tooLong();
  }
  if (!parser) {
    if (pending.trim() === '')
      throw new InputFileError('empty_file', options.file, 'the file is empty');
    parser = new PapaParserClass({ delimiter: detectDelimiter(pending, options.delimiter) });
  }
  if (pending) yield* consume(parser.parse(pending, 0, false).data);
  if (!header) throw new InputFileError('empty_file', options.file, 'the file is empty');
  if (builder && builder.length > 0) yield builder.take();
}

/** Required columns missing from the header fail the whole file, before any row is read. */
export function assertColumns(header: readonly string[], options: ReadOptions): void {
  const present = new Set(header);
  const missing = (options.requiredColumns ?? options.columns).filter((c) => !present.has(c));
  if (missing.length > 0) {
    const hint = header.length === 1 ? ' (one column only: is the delimiter right?)' : '';
    throw new InputFileError(
      'missing_columns',
      options.file,
      `header lacks column(s) ${missing.join(', ')}${hint}`,
      { line: 1 },
    );
  }
}
