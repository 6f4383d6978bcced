import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';
import {
  aggregationKpi,
  clickstream,
  compareJsonTexts,
} from '../../src/profiles/clickstream/index.js';
import { pick, randomInt, seededRandom } from '../helpers/random.js';
import { clickstreamKpi } from './clickstream-reference.js';
import { loadAggregations, type Aggregation } from '../../src/profiles/clickstream/aggregations.js';
import { startTestRuntime, type TestRuntime } from '../helpers/local.js';
import {
  duckdb,
  expectRowsMatch,
  expectRowsReconcile,
  expectSucceeded,
  loadRun,
} from './support.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'clickstream');
const SAMPLE = join(FIXTURES, 'raw_sample.csv');
const BAD = join(FIXTURES, 'raw_sample_bad.csv');
const reference = (db: DuckDBConnection, a: Aggregation) =>
  clickstreamKpi(db, `read_csv('${SAMPLE}', header = true, all_varchar = true)`, a);

const keysOf = (a: Aggregation) => {
  const kpi = aggregationKpi(a);
  return [kpi.dateColumn, ...kpi.groupBy];
};

describe('clickstream: the configured aggregations over the hand-made Taobao-layout fixture', () => {
  let t: TestRuntime;
  let db: DuckDBConnection;
  beforeAll(async () => {
    t = await startTestRuntime();
    db = await duckdb();
  });
  afterAll(async () => {
    db?.closeSync();
    await t?.stop();
  });

  it('renames user, time_stamp, adgroup_id and pid, and keeps every impression', async () => {
    const { reports } = await loadRun(t, 'clickstream', 'defaults', [
      { path: SAMPLE, name: 'raw_sample.csv' },
    ]);
    expectSucceeded(reports);
    expect(reports[1]!.entities!.clicks).toMatchObject({ rowsIn: 42, valid: 42, rejected: 0 });
  });

  it('computes each aggregation of the shipped config file as its own KPI, equal to the reference', async () => {
    const shipped = loadAggregations();
    expect(clickstream.kpis.map((k) => k.name)).toEqual(shipped.map((a) => a.name));
    expect(new Set(shipped.map((a) => a.period))).toEqual(
      new Set(['hour', 'day', 'week', 'month']),
    );
    for (const a of shipped) {
      const stored = await t.kpis.list('clickstream', a.name);
      expect({ name: a.name, rows: stored.length }).toEqual({
        name: a.name,
        rows: (await reference(db, a)).length,
      });
      expectRowsMatch(stored, await reference(db, a), keysOf(a));
    }
    const objects = await t.store.list('kpis/clickstream/');
    const prefixes = new Set<string>();
    for await (const o of objects) prefixes.add(o.key.split('/')[2]!);
    expect([...prefixes].sort()).toEqual(shipped.map((a) => a.name).sort());
  });
});

describe('clickstream: aggregation periods in a time zone (Must show 4)', () => {
  let t: TestRuntime;
  const aggregations: Aggregation[] = [
    { name: 'daily_utc', groupBy: [], period: 'day', timeZone: 'UTC' },
    { name: 'daily_shanghai', groupBy: [], period: 'day', timeZone: 'Asia/Shanghai' },
    { name: 'weekly_utc', groupBy: [], period: 'week', timeZone: 'UTC' },
    { name: 'weekly_shanghai', groupBy: [], period: 'week', timeZone: 'Asia/Shanghai' },
    {
      name: 'hourly_shanghai',
      groupBy: ['product_category'],
      period: 'hour',
      timeZone: 'Asia/Shanghai',
    },
  ];
  const events = readFileSync(SAMPLE, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [, ts, , , , clk] = line.split(',');
      return { ms: Number(ts) * 1000, clk: Number(clk) };
    });
  /** Counts per period start computed here from the epoch seconds, apart from the profile. */
  const expected = (label: (ms: number) => string) => {
    const by = new Map<string, { impressions: number; clicks: number }>();
    for (const e of events) {
      const c = by.get(label(e.ms)) ?? { impressions: 0, clicks: 0 };
      c.impressions += 1;
      c.clicks += e.clk;
      by.set(label(e.ms), c);
    }
    return [...by.entries()].sort().map(([period_date, c]) => ({ period_date, ...c }));
  };
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const monday = (ms: number) => {
    const d = new Date(ms);
    return day(
      Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7)),
    );
  };
  const EIGHT_HOURS = 8 * 3600 * 1000;
  const stored = async (name: string) =>
    (await t.kpis.list('clickstream', name)).map((r) => ({
      period_date: r.period_date,
      impressions: r.impressions,
      clicks: r.clicks,
    }));

  beforeAll(async () => {
    t = await startTestRuntime();
    const { reports } = await loadRun(
      t,
      'clickstream',
      'zones',
      [{ path: SAMPLE, name: 'raw_sample.csv' }],
      {
        manifest: { aggregations },
      },
    );
    expectSucceeded(reports);
  });
  afterAll(async () => t?.stop());

  it('takes the manifest options over the config file: one KPI per declared aggregation', async () => {
    for (const a of aggregations)
      expect((await t.kpis.list('clickstream', a.name)).length).toBeGreaterThan(0);
    expect(await t.kpis.list('clickstream', 'daily_by_category')).toEqual([]);
  });

  it('counts a day in UTC and in Asia/Shanghai the same rows, shifted by exactly eight hours', async () => {
    expect(await stored('daily_utc')).toEqual(expected(day));
    expect(await stored('daily_shanghai')).toEqual(expected((ms) => day(ms + EIGHT_HOURS)));
    // The edge itself: 15:59:59 UTC on 7 May is still the 7th in Shanghai, 16:00:00 is the 8th.
    const edge = Date.UTC(2017, 4, 7, 16);
    const moved = events.filter((e) => day(e.ms) === '2017-05-07' && e.ms >= edge);
    expect(moved.length).toBeGreaterThan(0);
    expect(events.some((e) => e.ms === edge - 1000)).toBe(true);
    const utc7 = (await stored('daily_utc')).find((r) => r.period_date === '2017-05-07')!;
    const sh7 = (await stored('daily_shanghai')).find((r) => r.period_date === '2017-05-07')!;
    const before = events.filter(
      (e) => day(e.ms) === '2017-05-06' && e.ms >= Date.UTC(2017, 4, 6, 16),
    );
    expect(sh7.impressions).toBe((utc7.impressions as number) - moved.length + before.length);
  });

  it('starts weeks on Monday (ISO weeks) in the aggregation zone', async () => {
    const utc = await stored('weekly_utc');
    const shanghai = await stored('weekly_shanghai');
    expect(utc).toEqual(expected(monday));
    expect(shanghai).toEqual(expected((ms) => monday(ms + EIGHT_HOURS)));
    expect(utc.map((r) => r.period_date)).toEqual(['2017-05-01', '2017-05-08']);
    for (const r of [...utc, ...shanghai])
      expect(new Date(`${r.period_date as string}T00:00:00Z`).getUTCDay()).toBe(1);
    // Sunday 7 May 16:00 UTC is Monday 00:00 in Shanghai: a new week there, not in UTC.
    expect(shanghai[0]!.impressions).toBe(
      events.filter((e) => e.ms < Date.UTC(2017, 4, 7, 16)).length,
    );
  });

  it('keys hourly rows by the hour start with its offset, stored under the local day', async () => {
    const rows = await t.kpis.list('clickstream', 'hourly_shanghai');
    const midnight = rows.filter((r) => r.period_start === '2017-05-08T00:00:00+08:00');
    expect(midnight.length).toBeGreaterThan(0);
    expect(midnight.every((r) => r.period_date === '2017-05-08')).toBe(true);
    const total = rows.reduce((n, r) => n + (r.impressions as number), 0);
    expect(total).toBe(events.length);
    expect(rows.every((r) => r.ctr === (r.clicks as number) / (r.impressions as number))).toBe(
      true,
    );
  });
});

describe('clickstream: configuration and bad rows', () => {
  let t: TestRuntime;
  const dir = mkdtempSync(join(tmpdir(), 'cartpipe-clicks-'));
  beforeAll(async () => {
    t = await startTestRuntime();
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads aggregations from an INI file named by CARTPIPE_AGGREGATIONS_FILE', async () => {
    const ini = join(dir, 'aggregations.ini');
    writeFileSync(
      ini,
      '[by_user_and_product]\ngroup_by = user_id, product_name\nperiod = month\ntime_zone = UTC\n',
    );
    const { reports } = await loadRun(
      t,
      'clickstream',
      'ini',
      [{ path: SAMPLE, name: 'raw_sample.csv' }],
      {
        config: { CARTPIPE_AGGREGATIONS_FILE: ini },
      },
    );
    expectSucceeded(reports);
    expect(Object.keys(reports[2]!.kpiRows!)).toEqual(['by_user_and_product']);
    const rows = await t.kpis.list('clickstream', 'by_user_and_product');
    expect(new Set(rows.map((r) => r.period_date))).toEqual(new Set(['2017-05-01']));
    expect(rows.reduce((n, r) => n + (r.impressions as number), 0)).toBe(42);
  });

  it.each([
    [
      { aggregations: [{ name: 'x', groupBy: ['nope'], period: 'day' }] },
      /aggregations\.0\.groupBy\.0: one of user_id, product_category, product_name/,
    ],
    [{ aggregations: [{ name: 'x', period: 'fortnight' }] }, /aggregations\.0\.period/],
    [
      { aggregations: [{ name: 'x', period: 'day', timeZone: 'Mars/Olympus' }] },
      /not an IANA time zone/,
    ],
    [{ aggregations: [{ name: 'Bad Name', period: 'day' }] }, /aggregations\.0\.name/],
    [{ aggregations: [] }, /declares no aggregation/],
  ])(
    'fails a run whose options declare a bad aggregation at upload, naming the problem (%j)',
    async (manifest, message) => {
      const { reports } = await loadRun(
        t,
        'clickstream',
        'bad-options',
        [{ path: SAMPLE, name: 'raw_sample.csv' }],
        { manifest },
      );
      expect(reports).toHaveLength(1);
      expect(reports[0]!.error).toMatchObject({ code: 'options_invalid' });
      expect(reports[0]!.error!.message).toMatch(/^manifest options: /);
      expect(reports[0]!.error!.message).toMatch(message);
      expect(reports[0]!.files ?? []).toEqual([]);
    },
  );

  it('rejects rows with inconsistent click flags, bad timestamps or no user, and drops a repeated row', async () => {
    const { reports } = await loadRun(t, 'clickstream', 'bad-rows', [
      { path: SAMPLE, name: 'raw_sample.csv' },
      { path: BAD, name: 'raw_sample_bad.csv' },
    ]);
    expectSucceeded(reports);
    expectRowsReconcile(reports[1]!);
    expect(reports[1]!.entities!.clicks).toMatchObject({
      rowsIn: 47,
      valid: 42,
      rejected: 4,
      duplicatesDropped: 1,
      rejectsByReason: {
        inconsistent_click_flags: 2,
        'invalid_timestamp:event_time': 1,
        'missing_value:user_id': 1,
      },
    });
  });
});

describe("clickstream: rows in the order of their groups' JSON texts", () => {
  it('compares two values as JSON.stringify would order their texts, escapes and null included', () => {
    const random = seededRandom(17);
    // Units JSON writes as escapes (controls, quote, backslash, surrogates alone or paired),
    // the ones either side of the closing quote (space, !, #), and plain ones.
    const units = [
      ' ',
      '!',
      '"',
      '#',
      '\\',
      '\n',
      '\u0000',
      '\ud83d',
      '\ude00',
      'a',
      'b',
      '~',
      '\u00e9',
    ];
    const text = () =>
      random() < 0.1
        ? null
        : Array.from({ length: randomInt(random, 0, 4) }, () => pick(units, random)).join('');
    for (let i = 0; i < 50_000; i++) {
      const a = text();
      const b = text();
      const ta = JSON.stringify(a);
      const tb = JSON.stringify(b);
      expect([a, b, Math.sign(compareJsonTexts(a, b))]).toEqual([
        a,
        b,
        ta < tb ? -1 : ta > tb ? 1 : 0,
      ]);
    }
  });

  it('gives each KPI its rows in the order of JSON.stringify([period_start, ...groups]), counted exactly', async () => {
    const random = seededRandom(29);
    // Plain digits (sorted natively) beside units that order a string unlike its text (space and
    // ! below the closing quote, escapes), so some tree nodes take each path; null too.
    const units = ['1', '2', '12', ' ', '!', '"', '\\', '\n', '\ud83d', '\ude00', '~', '\u00e9'];
    const value = () =>
      random() < 0.05
        ? null
        : Array.from({ length: randomInt(random, 1, 3) }, () => pick(units, random)).join('');
    const start = Date.UTC(2017, 4, 6);
    const n = 4_000;
    const rows: Record<string, Value[]> = {
      event_time: [],
      clk: [],
      user_id: [],
      product_category: [],
      product_name: [],
    };
    for (let i = 0; i < n; i++) {
      rows.event_time!.push(start + randomInt(random, 0, 86_399) * 1000);
      rows.clk!.push(random() < 0.3 ? 1 : 0);
      // A category of plain digits only, so its level is sorted natively throughout.
      rows.product_category!.push(String(randomInt(random, 1, 400)));
      rows.product_name!.push(value());
      rows.user_id!.push(value());
    }
    const kpis = [
      aggregationKpi({ name: 'hourly_names', groupBy: ['product_name'], period: 'hour' }),
      aggregationKpi({
        name: 'daily_pairs',
        groupBy: ['product_category', 'user_id'],
        period: 'day',
      }),
      aggregationKpi({ name: 'daily_users', groupBy: ['user_id'], period: 'day' }),
    ];
    const pages = (): AsyncIterable<Record<string, Value[]>> =>
      (async function* () {
        // In pages, as the reader hands them.
        for (let at = 0; at < n; at += 1000)
          yield Object.fromEntries(
            Object.entries(rows).map(([c, v]) => [c, v.slice(at, at + 1000)]),
          );
      })();
    const input = {
      timeZone: 'UTC',
      options: {},
      rows: () => Promise.reject(new Error('reads a page at a time')),
      batches: pages,
    };
    const out = await clickstream.computeKpis(input, '2017-05-06', {
      date: '2017-05-06',
      period: 'day',
      timeZone: 'UTC',
      start,
      end: start + 86_400_000,
      dates: ['2017-05-06'],
      kpis,
    });
    for (const kpi of kpis) {
      const { groupBy, period } = kpi.aggregation;
      const expected = new Map<string, { impressions: number; clicks: number }>();
      for (let i = 0; i < n; i++) {
        const hour = new Date(Math.floor((rows.event_time![i] as number) / 3_600_000) * 3_600_000);
        const periodStart =
          period === 'hour'
            ? hour.toISOString().slice(0, 19) + '+00:00'
            : '2017-05-06T00:00:00+00:00';
        const text = JSON.stringify([periodStart, ...groupBy.map((c) => rows[c]![i])]);
        const group = expected.get(text) ?? { impressions: 0, clicks: 0 };
        group.impressions += 1;
        group.clicks += rows.clk![i] as number;
        expected.set(text, group);
      }
      const texts = [...expected.keys()].sort();
      expect(texts.length).toBeGreaterThan(100);
      const got = out[kpi.name]!;
      expect(got.map((r) => JSON.stringify([r.period_start, ...groupBy.map((c) => r[c])]))).toEqual(
        texts,
      );
      expect(got.map((r) => [r.impressions, r.clicks])).toEqual(
        texts.map((t) => [expected.get(t)!.impressions, expected.get(t)!.clicks]),
      );
    }
  });
});
