import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { InputFileError } from '../../src/errors.js';
import { fileTraits, readRecords } from '../../src/formats/index.js';
import { textOf, utf8Problem, type TextEncoding } from '../../src/formats/text-input.js';

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function decode(bytes: Uint8Array, size: number, encoding?: TextEncoding): Promise<string> {
  let text = '';
  for await (const t of textOf(chunked(bytes, size), { file: 'in.csv', encoding })) text += t;
  return text;
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('text decoding: UTF-8 or latin-1, declared or detected', () => {
  it.each([1, 2, 3, 7, 4096])(
    'detects latin-1 from its first non-ASCII byte, even deep in the file (chunks of %i bytes)',
    async (size) => {
      const ascii = 'id,name\n'.padEnd(150_000, 'x') + '\n';
      const text = `${ascii}1,Gift Voucher £20.00 café\n`;
      expect(await decode(latin1(text), size)).toBe(text);
    },
  );

  it.each([1, 2, 3, 5, 4096])(
    'detects UTF-8 when its first multi-byte character is split across chunks of %i bytes',
    async (size) => {
      const text = 'id,name\n1,£ café 東京 😀\n2,Ünïcödé\n';
      expect(await decode(utf8(text), size)).toBe(text);
    },
  );

  it('reads plain ASCII the same whichever way it would have been decided', async () => {
    expect(await decode(utf8('a,b\n1,2\n'), 3)).toBe('a,b\n1,2\n');
  });

  it('drops a UTF-8 byte order mark', async () => {
    expect(await decode(utf8('\ufeffid\n1\n'), 2)).toBe('id\n1\n');
  });

  it('decodes declared latin-1 as windows-1252 (0x80 is the euro sign), as browsers do', async () => {
    expect(await decode(Uint8Array.from([0x80, 0x20, 0xa3, 0x0a]), 1, 'latin1')).toBe('€ £\n');
  });

  it('reads a file that ends inside a multi-byte sequence as latin-1', async () => {
    expect(await decode(Uint8Array.from([0x61, 0x0a, 0xc3]), 1)).toBe('a\nÃ');
  });

  it('stops a declared UTF-8 file at an invalid byte, naming the file and line', async () => {
    const bytes = Buffer.concat([utf8('id,name\n1,ok\n2,'), latin1('£'), utf8('\n')]);
    const error = await decode(bytes, 4, 'utf-8').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputFileError);
    expect((error as InputFileError).code).toBe('invalid_encoding');
    expect((error as InputFileError).line).toBe(3);
    expect((error as InputFileError).message).toMatch(/^in\.csv:3: byte 15 is not valid UTF-8/);
  });

  it('stops a file detected as UTF-8 that turns invalid later (mixed encodings) rather than guessing', async () => {
    const bytes = Buffer.concat([
      utf8('id,name\n1,café\n'),
      utf8('2,x\n'.repeat(1000)),
      latin1('3,£\n'),
    ]);
    const error = await decode(bytes, 512).catch((e: unknown) => e);
    expect((error as InputFileError).code).toBe('invalid_encoding');
    expect((error as InputFileError).line).toBe(1003);
  });

  it('locates invalid UTF-8 precisely (overlongs, surrogates, truncation)', () => {
    expect(utf8Problem(utf8('abc é 東 😀'))).toBe(-1);
    expect(utf8Problem(Uint8Array.from([0x61, 0xc3]))).toBe(-2);
    expect(utf8Problem(Uint8Array.from([0x61, 0xa3]))).toBe(1);
    expect(utf8Problem(Uint8Array.from([0xc0, 0x80]))).toBe(0); // overlong NUL
    expect(utf8Problem(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(0); // UTF-16 surrogate
    expect(utf8Problem(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0); // above U+10FFFF
  });
});

describe('CSV as spreadsheets export it', () => {
  it('reads a semicolon-separated, quoted latin-1 file (delimiter and encoding detected)', async () => {
    const text =
      'InvoiceNo;Description;UnitPrice\r\n536365;"Voucher £20; ""gift""";2,55\r\n536366;"two\r\nlines";1\r\n';
    const rows: Record<string, string | null>[] = [];
    for await (const b of readRecords(Readable.from([latin1(text)]), {
      file: 'export.csv',
      traits: fileTraits('export.csv'),
      columns: ['InvoiceNo', 'Description', 'UnitPrice'],
    })) {
      for (let i = 0; i < b.length; i++)
        rows.push(Object.fromEntries(Object.entries(b.columns).map(([k, v]) => [k, v[i]!])));
    }
    expect(rows).toEqual([
      { InvoiceNo: '536365', Description: 'Voucher £20; "gift"', UnitPrice: '2,55' },
      { InvoiceNo: '536366', Description: 'two\r\nlines', UnitPrice: '1' },
    ]);
  });
});
