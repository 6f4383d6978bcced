import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { InputFileError } from '../../src/errors.js';
import { fileTraits, readRecords } from '../../src/formats/index.js';
import type { RecordBatch } from '../../src/formats/records.js';

/** Feeds `bytes` in chunks of `chunkSize` so values straddle chunk boundaries. */
async function read(
  bytes: Uint8Array | string,
  columns: string[],
  options: { chunkSize?: number; name?: string; delimiter?: string; batchSize?: number } = {},
) {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
  const size = options.chunkSize ?? 3;
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  const name = options.name ?? 'in.csv';
  const batches: RecordBatch[] = [];
  for await (const b of readRecords(Readable.from(chunks), {
    file: name,
    traits: fileTraits(name),
    columns,
    delimiter: options.delimiter,
    batchSize: options.batchSize,
  })) {
    batches.push(b);
  }
  const rows = batches.flatMap((b) =>
    Array.from({ length: b.length }, (_, i) =>
      Object.fromEntries(columns.map((c) => [c, b.columns[c]![i]])),
    ),
  );
  const problems = batches.flatMap((b) =>
    [...b.problems.entries()].map(([i, p]) => ({ row: b.sourceRows[i], code: p.code })),
  );
  const sourceRows = batches.flatMap((b) => b.sourceRows);
  return { rows, problems, sourceRows };
}

describe('CSV reader', () => {
  it('maps columns by header name, whatever their order, and ignores extra columns', async () => {
    const { rows } = await read('b,extra,a\n2,x,1\n4,y,3\n', ['a', 'b']);
    expect(rows).toEqual([
      { a: '1', b: '2' },
      { a: '3', b: '4' },
    ]);
  });

  it('handles quoted fields with delimiters, doubled quotes and line breaks, split across chunks', async () => {
    const { rows } = await read('id,name\n1,"Acme, ""Inc"""\n2,"two\nlines"\n', ['id', 'name'], {
      chunkSize: 2,
    });
    expect(rows).toEqual([
      { id: '1', name: 'Acme, "Inc"' },
      { id: '2', name: 'two\nlines' },
    ]);
  });

  it('handles CRLF line endings and a UTF-8 byte order mark', async () => {
    const { rows } = await read('\ufeffid,name\r\n1,a\r\n2,b\r\n', ['id', 'name']);
    expect(rows).toEqual([
      { id: '1', name: 'a' },
      { id: '2', name: 'b' },
    ]);
  });

  it('decodes multi-byte characters split between chunks', async () => {
    const { rows } = await read('id,name\n1,£ café 東京 😀\n', ['id', 'name'], { chunkSize: 1 });
    expect(rows[0]!.name).toBe('£ café 東京 😀');
  });

  it('reads empty fields as null, skips blank lines, and numbers data rows from 1', async () => {
    const { rows, sourceRows } = await read('id,name\n1,\n\n2,b\n', ['id', 'name']);
    expect(rows).toEqual([
      { id: '1', name: null },
      { id: '2', name: 'b' },
    ]);
    expect(sourceRows).toEqual([1, 2]);
  });

  it('flags ragged rows with their row number instead of dropping them', async () => {
    const { rows, problems } = await read('id,name\n1,a\n2,b,c\n3\n', ['id', 'name']);
    expect(rows).toHaveLength(3);
    expect(problems).toEqual([
      { row: 2, code: 'ragged_row' },
      { row: 3, code: 'ragged_row' },
    ]);
  });

  it('detects ; and tab delimiters from the header', async () => {
    expect((await read('id;name\n1;a\n', ['id', 'name'])).rows).toEqual([{ id: '1', name: 'a' }]);
    expect((await read('id\tname\n1\ta\n', ['id', 'name'], { name: 'x.tsv' })).rows).toEqual([
      { id: '1', name: 'a' },
    ]);
  });

  it('reads gzip-compressed files by their .gz suffix', async () => {
    const { rows } = await read(gzipSync('id,name\n1,a\n'), ['id', 'name'], {
      name: 'x.csv.gz',
      chunkSize: 7,
    });
    expect(rows).toEqual([{ id: '1', name: 'a' }]);
  });

  it('keeps a file larger than one batch in order across batches', async () => {
    const body = ['id', ...Array.from({ length: 2500 }, (_, i) => String(i))].join('\n');
    const { rows } = await read(body, ['id'], { chunkSize: 1000, batchSize: 1000 });
    expect(rows.map((r) => Number(r.id))).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });

  it.each([
    ['an empty file', '', 'empty_file'],
    ['a header lacking a column', 'id\n1\n', 'missing_columns'],
    ['the wrong delimiter forced by the manifest', 'id;name\n1;a\n', 'missing_columns'],
    ['binary garbage', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2, 3]), 'binary_file'],
  ])('fails %s with a coded error naming the file', async (_label, body, code) => {
    const delimiter = _label.includes('forced') ? ',' : undefined;
    const error = await read(body, ['id', 'name'], { name: 'bad.csv', delimiter }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as InputFileError).code).toBe(code);
    expect((error as InputFileError).message).toMatch(/^bad\.csv/);
  });
});
