/** Plain-text rendering for the CLI: aligned tables, CSV, numbers a person can read. */
import type { Value } from '../formats/parquet.js';

export function formatValue(v: Value | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && !Number.isInteger(v)) return String(Math.round(v * 1e6) / 1e6);
  return String(v);
}

export function table(columns: readonly string[], rows: readonly Record<string, Value>[]): string {
  const cells = rows.map((r) => columns.map((c) => formatValue(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = columns.map(
    (_, i) =>
      rows.length > 0 &&
      rows.every((r) => typeof r[columns[i]!] === 'number' || r[columns[i]!] === null),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function csv(columns: readonly string[], rows: readonly Record<string, Value>[]): string {
  const quote = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const text = (v: Value | undefined) => (v === null || v === undefined ? '' : String(v));
  return [
    columns.join(','),
    ...rows.map((r) => columns.map((c) => quote(text(r[c]))).join(',')),
  ].join('\n');
}

export const count = (n: number) => n.toLocaleString('en-US');
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
