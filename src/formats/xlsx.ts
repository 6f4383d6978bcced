/**
 * XLSX reader on exceljs's streaming WorkbookReader: rows are pulled one at a time from the
 * zipped sheet XML, so memory stays bounded (measured: 150 MB for 590k rows, where SheetJS
 * builds the whole workbook: 1.3 GB). One sheet is read: the one the manifest names, else the
 * workbook's first. Its first non-empty row is the header; cells become text like the CSV
 * reader's: numbers as JavaScript prints them (2.55, 17850), dates (cells with a date format) as
 * naive ISO wall-clock time (Excel dates carry no zone: validate reads them in the configured
 * one), formulas by their cached result, rich text by its plain text.
 */
import { Duplex, Readable } from 'node:stream';
import type ExcelJS from 'exceljs';
import { InputFileError } from '../errors.js';
import { assertColumns } from './csv.js';
import {
  DEFAULT_MAX_FIELD_LENGTH,
  DEFAULT_MAX_ROW_LENGTH,
  DEFAULT_XLSX_STALL_MS,
  RecordBatchBuilder,
  type RecordBatch,
  type ReadOptions,
  type RowProblem,
} from './records.js';

interface SheetReader extends AsyncIterable<ExcelJS.Row> {
  name?: string;
}
interface WorkbookModel {
  sheets?: { name?: string; id?: number }[];
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Naive ISO text of an Excel date (exceljs builds the Date from the serial as if UTC). */
export function excelDateText(date: Date): string {
  const ms = date.getUTCMilliseconds();
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}` +
    (ms ? `.${pad(ms, 3)}` : '')
  );
}

/**
 * Text of one cell, or a problem for an error cell (#N/A, #DIV/0!). A formula cell gives its
 * cached result (what the user saw) and never the formula itself, so no formula travels on to
 * the outputs; one saved without a result (written by a tool that does not calculate) has no
 * value to give: `formula_without_value`.
 */
export function cellText(value: ExcelJS.CellValue): {
  text: string | null;
  problem?: string;
  code?: string;
} {
  if (value === null || value === undefined) return { text: null };
  if (typeof value === 'string') return { text: value === '' ? null : value };
  if (typeof value === 'number') return { text: Number.isFinite(value) ? String(value) : null };
  if (typeof value === 'boolean') return { text: String(value) };
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? { text: null } : { text: excelDateText(value) };
  }
  if ('richText' in value) return cellText(value.richText.map((r) => r.text).join(''));
  if ('error' in value) return { text: null, problem: value.error };
  if ('formula' in value || 'sharedFormula' in value) {
    const result = (value as { result?: ExcelJS.CellValue }).result;
    if (result === undefined || result === null) {
      return {
        text: null,
        problem: 'a formula saved without its value',
        code: 'formula_without_value',
      };
    }
    return cellText(result);
  }
  if ('text' in value) return cellText(value.text as ExcelJS.CellValue);
  return { text: null };
}

/**
 * Makes `zip` announce its end only once nothing waits in its buffer. exceljs reads a workbook's
 * entries from unzipper's Parse stream, pausing it while it works on one (a worksheet that comes
 * before the workbook's shared strings is copied to a temporary file first); the parser goes on
 * meanwhile, queueing the later, small entries in its buffer, and emits 'end' as soon as it has
 * read the zip's last record (when its writable side finishes), with entries still queued.
 * exceljs stops at that 'end', so those entries (workbook.xml among them) are never read, and
 * the workbook fails with "Cannot read properties of undefined (reading 'sheets')": about one
 * read in 400 of a valid workbook on a busy machine. Held back, the 'end' comes after the last
 * queued entry, and the one that follows the real end of the readable side passes as it is.
 */
export function holdEndWhileBuffered(zip: Duplex): void {
  const emit = zip.emit.bind(zip);
  let held = false;
  zip.emit = (event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'end' && zip.readableLength > 0) {
      held = true;
      return false;
    }
    const result = emit(event, ...args);
    if (held && event === 'data' && zip.readableLength === 0) {
      held = false;
      emit('end');
    }
    return result;
  };
}

/**
 * Reads one sheet of an XLSX byte stream into record batches.
 * @throws InputFileError `invalid_xlsx`, `sheet_not_found`, `empty_file`, `missing_columns`,
 * `duplicate_header`.
 */
export async function* readXlsx(
  bytes: AsyncIterable<Uint8Array>,
  options: ReadOptions,
): AsyncGenerator<RecordBatch> {
  const batchSize = options.batchSize ?? 50_000;
  const maxField = options.maxFieldLength ?? DEFAULT_MAX_FIELD_LENGTH;
  const maxRow = options.maxRowLength ?? DEFAULT_MAX_ROW_LENGTH;
  // exceljs waits for ever, without an error, on some damaged workbooks (a corrupt deflate
  // stream inside an entry it needs): it then neither reads more input nor yields a row. A wait
  // this long with no input taken and no row given, while the input is not the one waiting (a
  // slow download is not a stall), means nothing more will come.
  const stallMs = options.stallMs ?? DEFAULT_XLSX_STALL_MS;
  let lastActivity = Date.now();
  let awaitingInput = false;
  const input = Readable.from(
    (async function* () {
      const source = bytes[Symbol.asyncIterator]();
      try {
        for (;;) {
          awaitingInput = true;
          const chunk = await source.next();
          awaitingInput = false;
          lastActivity = Date.now();
          if (chunk.done) return;
          yield chunk.value;
        }
      } finally {
        await source.return?.();
      }
    })(),
    { objectMode: false },
  );
  // One watchdog for the whole read (not a timer per row): it fails the read when the reader has
  // waited on exceljs for stallMs with no input taken and no row given.
  let waiting = false;
  let stalled: (error: Error) => void = () => undefined;
  const stall = new Promise<never>((_, reject) => (stalled = reject));
  stall.catch(() => undefined); // observed through next()
  const watchdog = setInterval(
    () => {
      if (!waiting || awaitingInput || Date.now() - lastActivity < stallMs) return;
      clearInterval(watchdog);
      input.destroy();
      stalled(
        new InputFileError(
          'invalid_xlsx',
          options.file,
          `not a readable XLSX workbook: no progress for ${stallMs} ms (a damaged entry)`,
        ),
      );
    },
    Math.min(500, stallMs),
  );
  const next = async <T>(iterator: AsyncIterator<T>): Promise<IteratorResult<T>> => {
    lastActivity = Date.now();
    waiting = true;
    try {
      return await Promise.race([iterator.next(), stall]);
    } finally {
      waiting = false;
      lastActivity = Date.now();
    }
  };
  // exceljs pipes `input` into its zip reader: the one place that reader can be reached.
  const pipe = input.pipe.bind(input);
  input.pipe = <T extends NodeJS.WritableStream>(
    destination: T,
    pipeOptions?: { end?: boolean },
  ) => {
    if (destination instanceof Duplex) holdEndWhileBuffered(destination);
    return pipe(destination, pipeOptions);
  };
  // Loaded here, not with the module: exceljs and its dependencies are ~500 modules (~130 ms),
  // which every job process and worker thread paid at start whether or not a batch had a workbook.
  const { default: excel } = await import('exceljs');
  const workbook = new excel.stream.xlsx.WorkbookReader(input, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    // Styles say which numbers are dates; without them a date cell reads as its serial number.
    styles: 'cache',
    hyperlinks: 'ignore',
    entries: 'ignore',
  });
  const seen: string[] = [];
  let found = false;
  let header: string[] | undefined;
  let headerRow = 0;
  let indexOf: number[] = [];
  const builder = new RecordBatchBuilder(options.columns);

  const onHeader = (row: ExcelJS.Row, cells: (string | null)[]): void => {
    header = cells.map((c) => (c ?? '').trim());
    headerRow = row.number;
    const mapped = header.map((h) => options.renames?.[h] ?? h);
    const named = new Set<string>();
    for (const name of mapped) {
      if (name && named.has(name) && options.columns.includes(name)) {
        throw new InputFileError('duplicate_header', options.file, `column ${name} appears twice`, {
          line: row.number,
        });
      }
      named.add(name);
    }
    assertColumns(mapped, options);
    indexOf = options.columns.map((c) => mapped.indexOf(c));
  };

  try {
    const sheets = (workbook as unknown as AsyncIterable<SheetReader>)[Symbol.asyncIterator]();
    for (let nextSheet = await next(sheets); !nextSheet.done; nextSheet = await next(sheets)) {
      const sheet = nextSheet.value;
      const name = sheet.name ?? '';
      seen.push(name);
      const first = (workbook as unknown as { model?: WorkbookModel }).model?.sheets?.[0]?.name;
      const wanted = options.sheet ? name === options.sheet : first === undefined || name === first;
      if (!wanted) {
        // Left unread, a sheet that exceljs parked in a temp file is deleted when the next sheet
        // is asked for, possibly before its lazily opened read stream has opened it (ENOENT).
        const skipped = sheet[Symbol.asyncIterator]();
        while (!(await next(skipped)).done);
        continue;
      }
      found = true;
      const rows = sheet[Symbol.asyncIterator]();
      for (let nextRow = await next(rows); !nextRow.done; nextRow = await next(rows)) {
        const row = nextRow.value;
        const raw = row.values as ExcelJS.CellValue[];
        const cells: (string | null)[] = [];
        let problem: RowProblem | undefined;
        for (let c = 1; c < raw.length; c++) {
          const { text, problem: cellProblem, code } = cellText(raw[c]);
          cells[c - 1] = text;
          if (cellProblem) {
            problem ??= { code: code ?? 'cell_error', message: `column ${c} holds ${cellProblem}` };
          }
        }
        if (cells.every((c) => c === null || c === undefined) && !problem) continue;
        if (!header) {
          onHeader(row, cells);
          continue;
        }
        const values = indexOf.map((i) => (i >= 0 ? (cells[i] ?? null) : null));
        if (!problem && cells.length > header.length && cells.slice(header.length).some((c) => c)) {
          problem = {
            code: 'ragged_row',
            message: `${cells.length} cells where the header has ${header.length}`,
          };
        }
        let rowLength = 0;
        for (const cell of cells) rowLength += cell?.length ?? 0;
        if (rowLength > maxRow) {
          values.fill(null);
          problem ??= {
            code: 'row_too_long',
            message: `the row's cells hold more than ${maxRow} characters`,
          };
        }
        for (let v = 0; v < values.length; v++) {
          if ((values[v]?.length ?? 0) > maxField) {
            values[v] = null;
            problem ??= {
              code: 'field_too_long',
              message: `a field is longer than ${maxField} characters`,
            };
          }
        }
        builder.push(row.number - headerRow, values, problem);
        if (builder.length >= batchSize) yield builder.take();
      }
      break; // the sheets after the wanted one are not needed
    }
  } catch (cause) {
    if (cause instanceof InputFileError) throw cause;
    throw new InputFileError(
      'invalid_xlsx',
      options.file,
      `not a readable XLSX workbook: ${(cause as Error).message}`,
      { cause },
    );
  } finally {
    clearInterval(watchdog);
    // Ends the read of a workbook left part-way (sheets after the wanted one, or an error).
    input.destroy();
  }
  if (!found) {
    throw new InputFileError(
      options.sheet ? 'sheet_not_found' : 'empty_file',
      options.file,
      options.sheet
        ? `no sheet named ${JSON.stringify(options.sheet)}; sheets: ${seen.map((s) => JSON.stringify(s)).join(', ') || 'none'}`
        : 'the workbook has no sheet',
    );
  }
  if (!header) throw new InputFileError('empty_file', options.file, 'the sheet is empty');
  if (builder.length > 0) yield builder.take();
}
