import { describe, expect, it } from '@jest/globals';
import { parseCell, ParseFailure } from '../../src/profiles/values.js';
import type { ColumnSpec, Parsed } from '../../src/profiles/types.js';

const utc = { timeZone: 'UTC' };
const column = (type: ColumnSpec['type'], parse?: ColumnSpec['parse']): ColumnSpec => ({
  name: 'c',
  type,
  ...(parse ? { parse } : {}),
});

describe('parseCell', () => {
  it('gives the typed value itself, no wrapper', () => {
    expect(parseCell(column('string'), ' as written ', utc)).toBe(' as written ');
    expect(parseCell(column('int'), ' -42 ', utc)).toBe(-42);
    expect(parseCell(column('float'), '1e3', utc)).toBe(1000);
    expect(parseCell(column('float'), '.5', utc)).toBe(0.5);
    expect(parseCell(column('bool'), 'Yes', utc)).toBe(true);
    expect(parseCell(column('bool'), 'f', utc)).toBe(false);
    expect(parseCell(column('timestamp'), '2024-04-01T10:00:00Z', utc)).toBe(
      Date.UTC(2024, 3, 1, 10),
    );
  });

  it.each([
    ['int', '4.5', 'invalid_integer'],
    ['int', '9007199254740993', 'integer_out_of_range'],
    ['float', '12,50', 'invalid_number'],
    ['float', '1e999', 'invalid_number'],
    ['bool', 'maybe', 'invalid_boolean'],
    ['timestamp', '2024-02-30 10:00:00', 'invalid_timestamp'],
  ] as const)('tells why %s %j is no value: %s', (type, text, reason) => {
    const parsed = parseCell(column(type), text, utc);
    expect(parsed).toBeInstanceOf(ParseFailure);
    expect((parsed as ParseFailure).reason).toBe(reason);
  });

  it('shares one failure object per reason', () => {
    const first = parseCell(column('int'), 'x', utc);
    const second = parseCell(column('int'), 'y', utc);
    expect(first).toBe(second);
    expect(first).not.toBe(parseCell(column('float'), 'x', utc));
  });

  it("answers with a profile's own parser, its failures as ParseFailure", () => {
    const parse = (text: string): Parsed =>
      text.startsWith('C') ? { ok: true, value: text.slice(1) } : { ok: false, reason: 'no_c' };
    expect(parseCell(column('string', parse), 'C17', utc)).toBe('17');
    const failed = parseCell(column('string', parse), '17', utc);
    expect(failed).toBeInstanceOf(ParseFailure);
    expect((failed as ParseFailure).reason).toBe('no_c');
  });

  it('keeps null from a parser as a value', () => {
    const parse = (): Parsed => ({ ok: true, value: null });
    expect(parseCell(column('string', parse), 'n/a', utc)).toBeNull();
  });
});
