import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { InputFileError } from '../../src/errors.js';
import { fileTraits, readRecords } from '../../src/formats/index.js';
import { readJson } from '../../src/formats/json.js';
import type { RecordBatch } from '../../src/formats/records.js';

interface ReadResult {
  rows: Record<string, string | null>[];
  sourceRows: number[];
  problems: { row: number; code: string }[];
}

async function read(
  body: string | Uint8Array,
  columns: string[],
  options: {
    name?: string;
    chunkSize?: number;
    renames?: Record<string, string>;
    batchSize?: number;
  } = {},
): Promise<ReadResult> {
  const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const size = options.chunkSize ?? 5;
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  const name = options.name ?? 'in.json';
  const batches: RecordBatch[] = [];
  for await (const b of readRecords(Readable.from(chunks), {
    file: name,
    traits: fileTraits(name),
    columns,
    renames: options.renames,
    batchSize: options.batchSize,
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

async function failure(
  body: string,
  columns: string[],
  name = 'bad.json',
): Promise<InputFileError> {
  const error = await read(body, columns, { name }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(InputFileError);
  return error as InputFileError;
}

describe('JSON array reader', () => {
  it('maps records to columns by key, keeping numbers exactly as written (19-digit ids survive)', async () => {
    const body =
      '[{"id": 1, "category_id": 2053013555631882655, "extra": true, "name": "Acme, \\"Inc\\""},\n' +
      ' {"name": "b", "id": 2.50}]';
    const { rows, sourceRows } = await read(body, ['id', 'category_id', 'name'], { chunkSize: 3 });
    expect(rows).toEqual([
      { id: '1', category_id: '2053013555631882655', name: 'Acme, "Inc"' },
      { id: '2.50', category_id: null, name: 'b' },
    ]);
    expect(sourceRows).toEqual([1, 2]);
  });

  it('reads true/false as text, null and "" as absent, and applies the entity renames', async () => {
    const { rows } = await read(
      '[{"user": 7, "clk": true, "note": null, "x": ""}]',
      ['user_id', 'clk', 'note', 'x'],
      {
        renames: { user: 'user_id' },
      },
    );
    expect(rows).toEqual([{ user_id: '7', clk: 'true', note: null, x: null }]);
  });

  it('decodes escapes and multi-byte characters split across chunks', async () => {
    const { rows } = await read('[{"name":"caf\\u00e9 \\"q\\" 東京 😀\\n"}]', ['name'], {
      chunkSize: 1,
    });
    expect(rows[0]!.name).toBe('café "q" 東京 😀\n');
  });

  it('flags a nested value in a declared column, and ignores nested values elsewhere', async () => {
    const { rows, problems } = await read(
      '[{"a": {"b": [1, {"c": 2}]}, "id": 1}, {"id": [1], "a": 3}]',
      ['id'],
    );
    expect(rows).toEqual([{ id: '1' }, { id: null }]);
    expect(problems).toEqual([{ row: 2, code: 'nested_value' }]);
  });

  it('flags array elements that are not objects, and keeps counting rows', async () => {
    const { rows, problems } = await read('[{"id": 1}, 5, [1, 2], {"id": 4}]', ['id']);
    expect(rows.map((r) => r.id)).toEqual(['1', null, null, '4']);
    expect(problems).toEqual([
      { row: 2, code: 'not_an_object' },
      { row: 3, code: 'not_an_object' },
    ]);
  });

  it('streams a large array: the first batch comes out long before the input is read', async () => {
    const total = 200_000;
    let pulled = 0;
    async function* input(): AsyncGenerator<string> {
      yield '[';
      for (let i = 0; i < total; i++) {
        pulled += 1;
        yield `${i ? ',' : ''}{"id":${i},"name":"n${i}"}`;
      }
      yield ']';
    }
    let firstBatchAfter = -1;
    let rows = 0;
    for await (const batch of readJson(input(), {
      file: 'big.json',
      columns: ['id', 'name'],
      batchSize: 10_000,
    })) {
      if (firstBatchAfter < 0) firstBatchAfter = pulled;
      rows += batch.length;
    }
    expect(rows).toBe(total);
    expect(firstBatchAfter).toBeGreaterThanOrEqual(10_000);
    expect(firstBatchAfter).toBeLessThan(total / 10);
  });

  it('reads a .json file that holds one object per line as NDJSON', async () => {
    const { rows } = await read('{"id": 1}\n{"id": 2}\n', ['id']);
    expect(rows).toEqual([{ id: '1' }, { id: '2' }]);
  });

  it.each([
    ['an empty file', '  \n', 'empty_file'],
    ['an empty array', '[ ]', 'empty_file'],
    ['a scalar', '42', 'not_an_array'],
    ['broken syntax', '[{"id": 1}, {"id": 2,, }]', 'invalid_json'],
    ['a truncated array', '[{"id": 1}, {"id": 2', 'invalid_json'],
    ['records that never name a column', '[{"name": "x"}]', 'missing_columns'],
  ])('fails %s with a coded error naming the file', async (_label, body, code) => {
    const error = await failure(body, ['id']);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/^bad\.json/);
  });

  it('names the record where the syntax broke', async () => {
    const error = await failure('[{"id": 1}, {"id": 2}, {"id" 3}]', ['id']);
    expect(error.message).toMatch(/record 3/);
  });
});

describe('NDJSON reader', () => {
  it('numbers rows by line, skips blank lines, and accepts CRLF', async () => {
    const { rows, sourceRows } = await read('{"id":1}\r\n\r\n{"id":"2"}\r\n{"id":3}', ['id'], {
      name: 'x.ndjson',
    });
    expect(rows.map((r) => r.id)).toEqual(['1', '2', '3']);
    expect(sourceRows).toEqual([1, 3, 4]);
  });

  it('turns a malformed line into a row problem at its line number and reads on', async () => {
    const { rows, problems } = await read(
      '{"id":1}\n{"id":2,}\n[1]\n{"id":4} {"id":5}\n{"id":6}\n',
      ['id'],
      {
        name: 'x.jsonl',
        chunkSize: 4,
      },
    );
    expect(rows.map((r) => r.id)).toEqual(['1', null, null, null, '6']);
    expect(problems).toEqual([
      { row: 2, code: 'invalid_json' },
      { row: 3, code: 'not_an_object' },
      { row: 4, code: 'invalid_json' },
    ]);
  });

  it('reads gzip-compressed and latin-1 NDJSON', async () => {
    const text = '{"id":1,"name":"Gift Voucher £20.00"}\n';
    const { rows } = await read(gzipSync(Buffer.from(text, 'latin1')), ['id', 'name'], {
      name: 'x.ndjson.gz',
    });
    expect(rows).toEqual([{ id: '1', name: 'Gift Voucher £20.00' }]);
  });

  it('batches a long file in order', async () => {
    const body = Array.from({ length: 2500 }, (_, i) => `{"id":${i}}`).join('\n');
    const { rows } = await read(body, ['id'], {
      name: 'x.ndjson',
      chunkSize: 1000,
      batchSize: 1000,
    });
    expect(rows.map((r) => Number(r.id))).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });
});
