import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import Papa from 'papaparse';
import { generate, ORDER_HEADER, PRODUCT_COUNT, type GenerateOptions } from './generate.js';

const OPTIONS: GenerateOptions = {
  rows: 6000,
  seed: 7,
  days: 10,
  parts: 2,
  startDate: '2024-04-01',
};

const roots: string[] = [];
const freshRoot = () => {
  const root = mkdtempSync(join(tmpdir(), 'cartpipe-gen-'));
  roots.push(root);
  return root;
};
afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

const digest = (paths: string[]) => {
  const hash = createHash('sha256');
  for (const p of paths) hash.update(readFileSync(p));
  return hash.digest('hex');
};

describe('bench data generator', () => {
  it('writes byte-identical files for the same options and different ones for another seed', () => {
    const a = generate(freshRoot(), OPTIONS);
    const b = generate(freshRoot(), OPTIONS);
    const c = generate(freshRoot(), { ...OPTIONS, seed: 8 });
    expect(a.files.map((f) => f.name)).toEqual(b.files.map((f) => f.name));
    expect(digest(a.files.map((f) => f.path))).toBe(digest(b.files.map((f) => f.path)));
    expect(digest(c.files.map((f) => f.path))).not.toBe(digest(a.files.map((f) => f.path)));
  });

  it('reuses a set already generated for the same options', () => {
    const root = freshRoot();
    const first = generate(root, OPTIONS);
    const mtime = statSync(first.files[0]!.path).mtimeMs;
    const again = generate(root, OPTIONS);
    expect(again.dir).toBe(first.dir);
    expect(statSync(again.files[0]!.path).mtimeMs).toBe(mtime);
  });

  it('has thelook proportions: 10k products, about N/3 orders over the days, N items plus duplicates', () => {
    const data = generate(freshRoot(), OPTIONS);
    expect(data.rows.products).toBe(PRODUCT_COUNT + 2); // two exact duplicate lines
    expect(data.rows.orders).toBeGreaterThan(OPTIONS.rows / 3.3);
    expect(data.rows.orders).toBeLessThan(OPTIONS.rows / 2.7);
    const items = data.injected.order_items!;
    // Each exact duplicate and each key conflict adds a line.
    expect(data.rows.order_items).toBe(OPTIONS.rows + items.exact_duplicate! + items.key_conflict!);
    expect(data.files.filter((f) => f.entity === 'orders')).toHaveLength(OPTIONS.parts);
    expect(data.firstDay).toBe('2024-04-01');
    expect(data.lastDay).toBe('2024-04-10');
  });

  it('injects each kind of bad row and keeps the nulls of the lab sample', () => {
    const data = generate(freshRoot(), OPTIONS);
    const orderFiles = data.files.filter((f) => f.entity === 'orders');
    const rows = orderFiles.flatMap((f) =>
      Papa.parse<string[]>(readFileSync(f.path, 'utf8').trim()).data.slice(1),
    );
    const column = (name: (typeof ORDER_HEADER)[number]) => ORDER_HEADER.indexOf(name);
    const statuses = new Map<string, number>();
    for (const r of rows)
      statuses.set(r[column('status')]!, (statuses.get(r[column('status')]!) ?? 0) + 1);
    expect(statuses.get('lost')).toBe(data.injected.orders!.unknown_status);
    expect(rows.filter((r) => r.length !== ORDER_HEADER.length)).toHaveLength(
      data.injected.orders!.ragged_short!,
    );
    const delivered = rows.filter((r) => r[column('status')] === 'delivered');
    expect(delivered.length / rows.length).toBeGreaterThan(0.7);
    expect(delivered.every((r) => r[column('returned_at')] === '')).toBe(true);
    const returned = rows.filter((r) => r[column('status')] === 'returned');
    expect(returned.every((r) => r[column('returned_at')] !== '')).toBe(true);
    expect(
      rows.some(
        (r) =>
          r[column('created_at')] === '2025-02-30T10:00:00' ||
          r[column('created_at')] === 'yesterday',
      ),
    ).toBe(true);
  });
});
