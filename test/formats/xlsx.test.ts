import { describe, expect, it } from '@jest/globals';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import { InputFileError } from '../../src/errors.js';
import { fileTraits, readRecords } from '../../src/formats/index.js';
import { holdEndWhileBuffered } from '../../src/formats/xlsx.js';
// exceljs's own loop over its zip reader's entries: the consumer that stopped early.
// @ts-expect-error exceljs ships no types for its internal modules
import iterateStream from 'exceljs/lib/utils/iterate-stream.js';
import type { RecordBatch } from '../../src/formats/records.js';

/** A workbook written by exceljs the way Excel stores values: numbers, dates, strings, formulas. */
async function workbook(
  sheets: Record<string, unknown[][]>,
  options: { dateFormat?: string } = {},
): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  for (const [name, rows] of Object.entries(sheets)) {
    const ws = wb.addWorksheet(name);
    for (const row of rows) ws.addRow(row);
    ws.eachRow((row) =>
      row.eachCell((cell) => {
        if (cell.value instanceof Date) cell.numFmt = options.dateFormat ?? 'm/d/yyyy h:mm';
      }),
    );
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}

async function read(
  bytes: Buffer,
  columns: string[],
  options: { name?: string; sheet?: string; chunkSize?: number } = {},
) {
  const size = options.chunkSize ?? 1024;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const name = options.name ?? 'in.xlsx';
  const batches: RecordBatch[] = [];
  for await (const b of readRecords(Readable.from(chunks), {
    file: name,
    traits: fileTraits(name),
    columns,
    sheet: options.sheet,
  })) {
    batches.push(b);
  }
  return {
    rows: batches.flatMap((b) =>
      Array.from({ length: b.length }, (_, i) =>
        Object.fromEntries(columns.map((c) => [c, b.columns[c]![i]!])),
      ),
    ),
    sourceRows: batches.flatMap((b) => b.sourceRows),
    problems: batches.flatMap((b) =>
      [...b.problems.entries()].map(([i, p]) => ({ row: b.sourceRows[i]!, code: p.code })),
    ),
  };
}

describe('XLSX reader', () => {
  it('reads the first sheet by header name, with cells as the text a CSV would hold', async () => {
    const bytes = await workbook({
      transactions: [
        ['InvoiceNo', 'Extra', 'Quantity', 'InvoiceDate', 'UnitPrice', 'StockCode', 'Ok', 'Total'],
        [
          536365,
          'x',
          6,
          new Date(Date.UTC(2010, 11, 1, 8, 26)),
          2.55,
          '85123A',
          true,
          { formula: 'C2*E2', result: 15.3 },
        ],
        [
          'C536379',
          null,
          -1,
          new Date(Date.UTC(2011, 0, 16, 23, 59, 30)),
          27.5,
          71053,
          false,
          { formula: 'C3*E3', result: -27.5 },
        ],
      ],
      other: [['InvoiceNo'], ['not me']],
    });
    const { rows, sourceRows } = await read(bytes, [
      'InvoiceNo',
      'StockCode',
      'Quantity',
      'InvoiceDate',
      'UnitPrice',
      'Ok',
      'Total',
    ]);
    expect(rows).toEqual([
      {
        InvoiceNo: '536365',
        StockCode: '85123A',
        Quantity: '6',
        InvoiceDate: '2010-12-01T08:26:00',
        UnitPrice: '2.55',
        Ok: 'true',
        Total: '15.3',
      },
      {
        InvoiceNo: 'C536379',
        StockCode: '71053',
        Quantity: '-1',
        InvoiceDate: '2011-01-16T23:59:30',
        UnitPrice: '27.5',
        Ok: 'false',
        Total: '-27.5',
      },
    ]);
    expect(sourceRows).toEqual([1, 2]);
  });

  it('reads the sheet the manifest names', async () => {
    const bytes = await workbook({ first: [['id'], ['1']], second: [['id'], ['2'], ['3']] });
    expect((await read(bytes, ['id'], { sheet: 'second' })).rows).toEqual([
      { id: '2' },
      { id: '3' },
    ]);
  });

  it('keeps rich text as plain text, skips empty rows and numbers data rows by their sheet row', async () => {
    const bytes = await workbook({
      s: [
        ['id', 'name'],
        [1, { richText: [{ text: 'bold ', font: { bold: true } }, { text: 'café' }] }],
        [],
        [3, 'c'],
      ],
    });
    const { rows, sourceRows } = await read(bytes, ['id', 'name']);
    expect(rows).toEqual([
      { id: '1', name: 'bold café' },
      { id: '3', name: 'c' },
    ]);
    expect(sourceRows).toEqual([1, 3]);
  });

  it('flags error cells and values beyond the header, keeping the rows', async () => {
    const bytes = await workbook({
      s: [
        ['id', 'v'],
        [1, { error: '#N/A' }],
        [2, 'ok', 'stray'],
      ],
    });
    const { rows, problems } = await read(bytes, ['id', 'v']);
    expect(rows).toEqual([
      { id: '1', v: null },
      { id: '2', v: 'ok' },
    ]);
    expect(problems).toEqual([
      { row: 1, code: 'cell_error' },
      { row: 2, code: 'ragged_row' },
    ]);
  });

  it('sees every zip entry even when the zip reader announces its end with entries queued', async () => {
    /**
     * What unzipper's Parse does: entries pushed while exceljs, paused on the first, works on it;
     * then 'end' emitted as its writable side finishes, before the queue is read.
     */
    const entriesSeen = async (guarded: boolean) => {
      const zip = new PassThrough({ objectMode: true });
      if (guarded) holdEndWhileBuffered(zip);
      const seen: string[] = [];
      const consumer = (async () => {
        for await (const entry of (iterateStream as (stream: PassThrough) => AsyncIterable<string>)(
          zip,
        )) {
          seen.push(entry);
          await sleep(20); // a worksheet copied to a temporary file
        }
      })();
      zip.write('xl/worksheets/sheet1.xml');
      await sleep(5);
      zip.push('xl/sharedStrings.xml');
      zip.push('xl/workbook.xml');
      zip.emit('end');
      zip.push(null);
      await consumer;
      return seen;
    };
    // Unguarded, the queued entries are lost: the upstream behaviour this guards against.
    expect(await entriesSeen(false)).toEqual(['xl/worksheets/sheet1.xml']);
    expect(await entriesSeen(true)).toEqual([
      'xl/worksheets/sheet1.xml',
      'xl/sharedStrings.xml',
      'xl/workbook.xml',
    ]);
  });

  it('reads a gzip-compressed workbook', async () => {
    const bytes = gzipSync(await workbook({ s: [['id'], [7]] }));
    expect((await read(bytes, ['id'], { name: 'x.xlsx.gz', chunkSize: 100 })).rows).toEqual([
      { id: '7' },
    ]);
  });

  it.each([
    [
      'a sheet name that does not exist',
      'sheet_not_found',
      /no sheet named "nope"; sheets: "a", "b"/,
    ],
    ['a header lacking a column', 'missing_columns', /header lacks column\(s\) name/],
  ])('fails %s with a coded error naming the file', async (label, code, message) => {
    const bytes = await workbook({ a: [['id'], [1]], b: [['id'], [2]] });
    const error = await read(bytes, ['id', ...(label.includes('header') ? ['name'] : [])], {
      name: 'bad.xlsx',
      ...(label.includes('sheet') ? { sheet: 'nope' } : {}),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as InputFileError).code).toBe(code);
    expect((error as InputFileError).message).toMatch(/^bad\.xlsx/);
    expect((error as InputFileError).message).toMatch(message);
  });

  it('fails a file that is not a workbook with invalid_xlsx', async () => {
    const error = await read(Buffer.from('id,name\n1,a\n'), ['id'], { name: 'bad.xlsx' }).catch(
      (e: unknown) => e,
    );
    expect((error as InputFileError).code).toBe('invalid_xlsx');
  });
});
