/** Default text -> value parsers per column type, with reason codes for failures. */
import type { ColumnSpec, ParseContext, Parsed } from './types.js';
import { parseIsoTimestamp } from './time.js';

const INT = /^[+-]?\d+$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ok = (value: string | number | boolean | null): Parsed => ({ ok: true, value });
const fail = (reason: string): Parsed => ({ ok: false, reason });

export function parseValue(spec: ColumnSpec, text: string, context: ParseContext): Parsed {
  if (spec.parse) return spec.parse(text, context);
  switch (spec.type) {
    case 'string':
      return ok(text);
    case 'int': {
      const t = text.trim();
      if (!INT.test(t)) return fail('invalid_integer');
      const n = Number(t);
      return Number.isSafeInteger(n) ? ok(n) : fail('integer_out_of_range');
    }
    case 'float': {
      const t = text.trim();
      if (!FLOAT.test(t)) return fail('invalid_number');
      const n = Number(t);
      return Number.isFinite(n) ? ok(n) : fail('invalid_number');
    }
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 't', 'y'].includes(t)) return ok(true);
      if (['false', '0', 'no', 'f', 'n'].includes(t)) return ok(false);
      return fail('invalid_boolean');
    }
    case 'timestamp': {
      const ms = parseIsoTimestamp(text, context.timeZone);
      return ms === undefined ? fail('invalid_timestamp') : ok(ms);
    }
  }
}
