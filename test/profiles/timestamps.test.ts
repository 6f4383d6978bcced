import { describe, expect, it } from '@jest/globals';
import {
  dateInZone,
  parseIsoTimestamp,
  parseIsoTimestampByPattern,
  startOfDate,
  wallClock,
  zonedToEpoch,
} from '../../src/profiles/time.js';
import { pick, randomInt, seededRandom } from '../helpers/random.js';

/** parseIsoTimestamp reads the common form by hand: it must agree with the pattern everywhere. */
describe('parseIsoTimestamp', () => {
  it('agrees with the regular expression on 40,000 near-miss and valid texts, in two zones', () => {
    const random = seededRandom(11);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const noise = ['', ' ', 'Z', ' UTC', 'UTC', '+02:00', '-0530', '.5', '.123', 'x', ' Z', 'z'];
    for (let i = 0; i < 40_000; i++) {
      let text =
        `${pad(randomInt(random, 0, 2100), 4)}-${pad(randomInt(random, 0, 13), 2)}-` +
        `${pad(randomInt(random, 0, 32), 2)}${pick([' ', 'T', 't', '_'], random)}` +
        `${pad(randomInt(random, 0, 25), 2)}:${pad(randomInt(random, 0, 61), 2)}:` +
        `${pad(randomInt(random, 0, 61), 2)}${pick(noise, random)}`;
      // Now and then a character replaced: a letter in a digit's place, a missing separator.
      if (random() < 0.2) {
        const at = randomInt(random, 0, text.length - 1);
        text =
          text.slice(0, at) + pick(['a', '-', ':', ' ', '9', '٣'], random) + text.slice(at + 1);
      }
      for (const zone of ['UTC', 'America/New_York']) {
        expect([text, zone, parseIsoTimestamp(text, zone)]).toEqual([
          text,
          zone,
          parseIsoTimestampByPattern(text, zone),
        ]);
      }
    }
  });

  it('reads the common forms as the instants they name', () => {
    expect(parseIsoTimestamp('2024-02-29 23:59:59', 'UTC')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
    expect(parseIsoTimestamp('2024-03-10T12:00:00 UTC', 'Asia/Tokyo')).toBe(
      Date.UTC(2024, 2, 10, 12),
    );
    expect(parseIsoTimestamp('2024-03-10 12:00:00', 'Asia/Tokyo')).toBe(Date.UTC(2024, 2, 10, 3));
    expect(parseIsoTimestamp('2023-02-29 00:00:00', 'UTC')).toBeUndefined();
    expect(parseIsoTimestamp('2024-01-01 24:00:00Z', 'UTC')).toBeUndefined();
  });
});

/**
 * time.ts measures a zone's offset once an hour and looks it up after: every answer must be the
 * one Intl gives for that very instant, at the offset changes above all. The reference here asks
 * Intl each time.
 */
describe('zone offsets looked up, not measured each time', () => {
  type Wall = { y: number; mo: number; d: number; h: number; mi: number; s: number };
  const formats = new Map<string, Intl.DateTimeFormat>();
  const intlWall = (epochMs: number, zone: string): Wall => {
    let format = formats.get(zone);
    if (!format) {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
      formats.set(zone, format);
    }
    const f: Record<string, number> = {};
    for (const p of format.formatToParts(epochMs)) if (p.type !== 'literal') f[p.type] = +p.value;
    return { y: f.year!, mo: f.month!, d: f.day!, h: f.hour!, mi: f.minute!, s: f.second! };
  };
  const asUtc = (w: Wall) => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  const intlOffset = (epochMs: number, zone: string) =>
    asUtc(intlWall(epochMs, zone)) - Math.floor(epochMs / 1000) * 1000;
  const dateText = (w: Wall) =>
    `${String(w.y).padStart(4, '0')}-${String(w.mo).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;

  // Half-hour and 45-minute offsets and changes, negative DST (Dublin), a skipped day (Apia),
  // DST suspended and resumed within a year (Casablanca), a 2-hour change (Troll).
  const zones = [
    'Europe/Berlin',
    'America/New_York',
    'Australia/Lord_Howe',
    'Asia/Kathmandu',
    'America/St_Johns',
    'Pacific/Apia',
    'Africa/Casablanca',
    'Europe/Dublin',
    'Pacific/Chatham',
    'Antarctica/Troll',
    'America/Sao_Paulo',
    'Europe/Moscow',
    'America/Santiago', // changes at midnight: days that start at 01:00, or twice
  ];
  const DAY = 86_400_000;

  /** Every instant (to the second) at which the zone's offset changes, 1970-2035, by Intl. */
  const changesOf = (zone: string): number[] => {
    const changes: number[] = [];
    let previous = intlOffset(Date.UTC(1970, 0, 1), zone);
    for (let day = Date.UTC(1970, 0, 1) + DAY; day <= Date.UTC(2035, 0, 1); day += DAY) {
      const offset = intlOffset(day, zone);
      if (offset === previous) continue;
      let lo = (day - DAY) / 1000;
      let hi = day / 1000;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (intlOffset(mid * 1000, zone) === previous) lo = mid;
        else hi = mid;
      }
      changes.push(hi * 1000);
      previous = offset;
    }
    return changes;
  };

  it.each(zones)(
    '%s: wall clock, date and wall time back to an instant, around each offset change and anywhere',
    (zone) => {
      const random = seededRandom(zone.length);
      const changes = changesOf(zone);
      expect(changes.length).toBeGreaterThan(zone === 'Asia/Kathmandu' ? 0 : 2);
      const instants: number[] = [];
      for (const at of changes) {
        for (const delta of [-3_600_001, -3_600_000, -1001, -1000, -1, 0, 1, 999, 1000, 3_599_999])
          instants.push(at + delta);
      }
      for (let i = 0; i < 3000; i++)
        instants.push(randomInt(random, Date.UTC(1900, 0, 1), Date.UTC(2100, 0, 1)));
      for (const e of instants) {
        const wall = intlWall(e, zone);
        expect([zone, e, wallClock(e, zone)]).toEqual([zone, e, wall]);
        expect([zone, e, dateInZone(e, zone)]).toEqual([zone, e, dateText(wall)]);
        // A wall time back to the instant it names: that one, or the earlier of the two when
        // the wall time occurs twice.
        const back = zonedToEpoch(wall.y, wall.mo, wall.d, wall.h, wall.mi, wall.s, 0, zone);
        const again = intlWall(back, zone);
        expect([zone, e, again]).toEqual([zone, e, wall]);
        expect([zone, e, back <= Math.floor(e / 1000) * 1000]).toEqual([zone, e, true]);
      }
      for (const at of changes) {
        const jump = intlOffset(at, zone) - intlOffset(at - 1000, zone);
        const last = intlWall(at - 1000, zone); // the last second before the change
        if (jump > 0) {
          // Clocks set forward: the wall times skipped read as moved on by the gap.
          const skipped = { ...last, s: last.s + 1 };
          const t = zonedToEpoch(
            skipped.y,
            skipped.mo,
            skipped.d,
            skipped.h,
            skipped.mi,
            skipped.s,
            0,
            zone,
          );
          expect([zone, at, asUtc(intlWall(t, zone))]).toEqual([zone, at, asUtc(skipped) + jump]);
        } else {
          // Clocks set back: the last second before the change comes again; the first is meant.
          const t = zonedToEpoch(last.y, last.mo, last.d, last.h, last.mi, last.s, 0, zone);
          expect([zone, at, t]).toEqual([zone, at, at - 1000]);
        }
        // Each day around the change starts at its first second: the second before is the day
        // before (in a day that starts in a gap, its first existing second).
        for (let day = -1; day <= 1; day++) {
          const date = dateText(intlWall(at + day * DAY, zone));
          const start = startOfDate(date, zone);
          expect([zone, date, dateText(intlWall(start, zone))]).toEqual([zone, date, date]);
          expect([zone, date, dateText(intlWall(start - 1000, zone)) < date]).toEqual([
            zone,
            date,
            true,
          ]);
        }
      }
    },
    60_000,
  );

  it('dates in UTC as toISOString gives them, years 0 to 9999 and past either end', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 20_000; i++) {
      const e = randomInt(random, Date.UTC(-300, 0, 1), Date.UTC(12_000, 0, 1));
      expect([e, dateInZone(e, 'UTC')]).toEqual([e, new Date(e).toISOString().slice(0, 10)]);
    }
  });
});
