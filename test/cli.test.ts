/** The `cartpipe` command as a user runs it: a child process on the compiled build. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../src/adapters/local/job-process.js';
import { DATASETS } from './helpers/local.js';

const run = promisify(execFile);
const BIN = join(projectRoot(), 'bin', 'cartpipe.js');
const SAMPLE = join(DATASETS, 'thelook-lab');

describe('cartpipe CLI on the local runtime', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'cartpipe-cli-'));
  const cartpipe = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
        cwd,
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  beforeAll(() => undefined);
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('runs a batch, prints the summary and exits 0; a second run adds to the first', async () => {
    const first = await cartpipe(
      'run',
      '--dataset',
      'thelook',
      '--batch',
      'orders-and-products',
      join(SAMPLE, 'orders'),
      join(SAMPLE, 'products.csv'),
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/SUCCEEDED/);
    expect(first.stdout).toMatch(/orders: 9,000 in = 9,000 valid/);

    const second = await cartpipe(
      'run',
      '--dataset',
      'thelook',
      '--batch',
      'items',
      join(SAMPLE, 'order_items'),
    );
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/order_items: 27,007 in = 27,007 valid/);

    const json = await cartpipe('kpis', '--dataset', 'thelook', '--format', 'json');
    expect(json.code).toBe(0);
    const kpis = JSON.parse(json.stdout) as {
      daily: Record<string, number>[];
      category_daily: Record<string, number>[];
    };
    expect(kpis.daily).toHaveLength(31);
    expect(kpis.daily.reduce((a, r) => a + r.total_items_sold!, 0)).toBe(27_007);
    expect(Object.keys(kpis.category_daily[0]!)).toEqual([
      'category',
      'order_date',
      'daily_revenue',
      'net_revenue',
      'orders',
      'items',
      'avg_order_value',
      'avg_return_rate',
    ]);

    const csv = await cartpipe('kpis', '--dataset', 'thelook', '--kpi', 'daily', '--format', 'csv');
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe(
      'order_date,total_orders,total_revenue,net_revenue,total_items_sold,return_rate,unique_customers',
    );
    expect(lines).toHaveLength(32);
  });

  it('exits 1 with the reason when the run fails', async () => {
    const failed = await cartpipe(
      'run',
      '--dataset',
      'thelook',
      '--batch',
      'bad',
      join(DATASETS, 'online-retail'),
    );
    expect(failed.code).toBe(1);
    expect(`${failed.stdout}${failed.stderr}`).toMatch(/FAILED/);
    expect(`${failed.stdout}${failed.stderr}`).toMatch(/unknown_entity/);
  });

  it('exits 2 with usage help on bad arguments', async () => {
    const bad = await cartpipe('run', '--dataset', 'nope', SAMPLE);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown dataset "nope"; known: .*thelook/);
    const missing = await cartpipe('kpis');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--dataset is required/);
  });
});
