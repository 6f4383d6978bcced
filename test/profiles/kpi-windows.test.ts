import { describe, expect, it } from '@jest/globals';
import { planKpiWindows } from '../../src/stages/compute-kpi.js';
import { periodOf, zonedIso } from '../../src/profiles/time.js';
import type { KpiSpec } from '../../src/profiles/types.js';

const kpi = (name: string, extra: Partial<KpiSpec> = {}): KpiSpec => ({
  name,
  description: name,
  dateColumn: 'd',
  groupBy: [],
  columns: [{ name: 'd', type: 'string' }],
  ...extra,
});

const summary = (windows: ReturnType<typeof planKpiWindows>) =>
  windows.map((w) => ({
    date: w.date,
    period: w.period,
    dates: w.dates,
    kpis: w.kpis.map((k) => k.name),
  }));

describe('compute-kpi windows: which periods a run recomputes, from which date partitions', () => {
  it('gives day KPIs in the pipeline zone one window per touched date, reading that date only (thelook)', () => {
    const windows = planKpiWindows(
      [kpi('daily'), kpi('category_daily')],
      ['2025-03-01', '2025-03-03'],
      'UTC',
    );
    expect(summary(windows)).toEqual([
      {
        date: '2025-03-01',
        period: 'day',
        dates: ['2025-03-01'],
        kpis: ['daily', 'category_daily'],
      },
      {
        date: '2025-03-03',
        period: 'day',
        dates: ['2025-03-03'],
        kpis: ['daily', 'category_daily'],
      },
    ]);
    expect(windows[0]!.start).toBe(Date.UTC(2025, 2, 1));
    expect(windows[0]!.end).toBe(Date.UTC(2025, 2, 2));
  });

  it('recomputes a month touched by any of its days from all of its dates, once', () => {
    const windows = planKpiWindows(
      [kpi('monthly', { period: 'month' })],
      ['2011-02-03', '2011-02-20'],
      'UTC',
    );
    expect(windows).toHaveLength(1);
    expect(windows[0]!.date).toBe('2011-02-01');
    expect(windows[0]!.dates).toHaveLength(28);
    expect(windows[0]!.dates.at(-1)).toBe('2011-02-28');
  });

  it('maps a UTC date to the two Asia/Shanghai days it overlaps, each read from its two UTC dates', () => {
    const windows = planKpiWindows(
      [kpi('sh', { timeZone: 'Asia/Shanghai' })],
      ['2017-05-07'],
      'UTC',
    );
    expect(summary(windows)).toEqual([
      { date: '2017-05-07', period: 'day', dates: ['2017-05-06', '2017-05-07'], kpis: ['sh'] },
      { date: '2017-05-08', period: 'day', dates: ['2017-05-07', '2017-05-08'], kpis: ['sh'] },
    ]);
    expect(windows[1]!.start).toBe(Date.UTC(2017, 4, 7, 16));
  });

  it('starts weeks on Monday and years on 1 January', () => {
    const [week] = planKpiWindows([kpi('w', { period: 'week' })], ['2017-05-07'], 'UTC');
    expect(week!.date).toBe('2017-05-01');
    expect(week!.dates).toEqual([
      '2017-05-01',
      '2017-05-02',
      '2017-05-03',
      '2017-05-04',
      '2017-05-05',
      '2017-05-06',
      '2017-05-07',
    ]);
    const [year] = planKpiWindows([kpi('y', { period: 'year' })], ['2011-01-16'], 'UTC');
    expect([year!.date, year!.dates.length]).toEqual(['2011-01-01', 365]);
  });
});

describe('periods in a zone with daylight saving time', () => {
  it('gives the day of a spring-forward 23 hours and keeps the repeated autumn hour apart', () => {
    const spring = periodOf(Date.UTC(2025, 2, 30, 12), 'day', 'Europe/London');
    expect(spring.end - spring.start).toBe(23 * 3600 * 1000);
    const first = periodOf(Date.UTC(2025, 9, 26, 0, 30), 'hour', 'Europe/London'); // 01:30 BST
    const second = periodOf(Date.UTC(2025, 9, 26, 1, 30), 'hour', 'Europe/London'); // 01:30 GMT
    expect(zonedIso(first.start, 'Europe/London')).toBe('2025-10-26T01:00:00+01:00');
    expect(zonedIso(second.start, 'Europe/London')).toBe('2025-10-26T01:00:00+00:00');
  });
});
