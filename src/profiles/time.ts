/**
 * Timestamps and dates in a configured time zone. Source timestamps are often naive
 * ("2025-03-30T16:14:26"): they are read as wall-clock time in the profile's zone. Dates
 * assigned to rows (partitions, KPI dates) are that wall-clock date.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const isUtc = (tz: string) => tz === 'UTC' || tz === 'Etc/UTC' || tz === 'GMT';

type WallClock = { y: number; mo: number; d: number; h: number; mi: number; s: number };

/** Wall-clock fields of an instant in a zone, as Intl reads the zone's rules (~µs a call). */
function measuredWallClock(epochMs: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(epochMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    y: parts.year!,
    mo: parts.month!,
    d: parts.day!,
    h: parts.hour!,
    mi: parts.minute!,
    s: parts.second!,
  };
}

/** Offset of `timeZone` from UTC at an instant, in ms (whole seconds), as Intl reads it. */
function measuredOffsetAt(epochMs: number, timeZone: string): number {
  const w = measuredWallClock(epochMs, timeZone);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(epochMs / 1000) * 1000;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Hours of offsets a zone keeps before starting over (~23 years; ~50 bytes each). */
const MAX_CACHED_HOURS = 200_000;

/** An hour of UTC in which a zone's offset changes: before `at` (ms), then from it. */
interface OffsetChange {
  at: number;
  before: number;
  after: number;
}

/**
 * A zone's offsets from UTC, measured once per hour of UTC and then looked up: validate reads
 * every row's timestamps in the pipeline's zone, and through Intl (formatToParts, twice a naive
 * timestamp) validate took 4x as long in Europe/Berlin as in UTC (1M rows on one core: 43.5 s
 * against 10.2; looked up, 10.7 s).
 * An hour whose first and last seconds have one offset has it throughout: zones change offset
 * a few times a year at most, never twice within an hour. An hour with a change keeps the
 * change's second, found by bisection, so every answer is the one Intl gives.
 */
class ZoneOffsets {
  private readonly hours = new Map<number, number | OffsetChange>();

  constructor(private readonly timeZone: string) {}

  at(epochMs: number): number {
    const hour = Math.floor(epochMs / HOUR_MS);
    let known = this.hours.get(hour);
    if (known === undefined) {
      if (this.hours.size >= MAX_CACHED_HOURS) this.hours.clear();
      known = this.measure(hour);
      this.hours.set(hour, known);
    }
    return typeof known === 'number' ? known : epochMs < known.at ? known.before : known.after;
  }

  private measure(hour: number): number | OffsetChange {
    const firstSecond = (hour * HOUR_MS) / 1000;
    const lastSecond = firstSecond + HOUR_MS / 1000 - 1;
    const before = measuredOffsetAt(firstSecond * 1000, this.timeZone);
    const after = measuredOffsetAt(lastSecond * 1000, this.timeZone);
    if (before === after) return before;
    // Offsets hold for whole seconds: the first second with the new one.
    let lo = firstSecond;
    let hi = lastSecond;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (measuredOffsetAt(mid * 1000, this.timeZone) === before) lo = mid;
      else hi = mid;
    }
    return { at: hi * 1000, before, after };
  }
}

const zoneOffsets = new Map<string, ZoneOffsets>();

/** Offset of `timeZone` from UTC at an instant, in ms. */
function offsetAt(epochMs: number, timeZone: string): number {
  let offsets = zoneOffsets.get(timeZone);
  if (!offsets) zoneOffsets.set(timeZone, (offsets = new ZoneOffsets(timeZone)));
  return offsets.at(epochMs);
}

/**
 * Instants from 0100-01-01 on: below, Date.UTC reads years 0-99 as 1900-1999, so an offset
 * measured there is off by centuries and only Intl's own fields are right.
 */
const FIRST_OFFSET_INSTANT = Date.UTC(100, 0, 2);

/**
 * The instant moved by the zone's offset, so that its UTC fields are the zone's wall clock;
 * undefined outside UTC before FIRST_OFFSET_INSTANT, where only Intl's own fields are right.
 */
function asLocal(epochMs: number, timeZone: string): number | undefined {
  if (isUtc(timeZone)) return epochMs;
  return epochMs >= FIRST_OFFSET_INSTANT ? epochMs + offsetAt(epochMs, timeZone) : undefined;
}

/** Wall-clock fields of an instant in a zone. */
export function wallClock(epochMs: number, timeZone: string): WallClock {
  const local = asLocal(epochMs, timeZone);
  if (local === undefined) return measuredWallClock(epochMs, timeZone);
  const t = new Date(local);
  return {
    y: t.getUTCFullYear(),
    mo: t.getUTCMonth() + 1,
    d: t.getUTCDate(),
    h: t.getUTCHours(),
    mi: t.getUTCMinutes(),
    s: t.getUTCSeconds(),
  };
}

/**
 * Instant of a wall-clock time in a zone: the earlier one when the time occurs twice (clocks
 * set back), and when clocks skip it (set forward), the instant it would be at the offset before
 * the change, which reads as the time moved on by the gap (as java.time and Temporal do): a day
 * that starts in a gap starts when its first existing time does.
 */
export function zonedToEpoch(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  ms: number,
  timeZone: string,
): number {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (isUtc(timeZone)) return asUtc;
  // A wall time is within 14 hours of its instant, and zones change offset at most once in two
  // days: the offsets a day either side are the ones the time can have.
  const before = offsetAt(asUtc - DAY_MS, timeZone);
  const after = offsetAt(asUtc + DAY_MS, timeZone);
  const early = asUtc - before;
  const earlyHolds = offsetAt(early, timeZone) === before;
  if (before === after) {
    // Two changes within two days (none known): the instant the wall time's own offsets give.
    return earlyHolds ? early : asUtc - offsetAt(asUtc - offsetAt(asUtc, timeZone), timeZone);
  }
  const late = asUtc - after;
  const lateHolds = offsetAt(late, timeZone) === after;
  if (earlyHolds && lateHolds) return Math.min(early, late);
  // The one that holds, or in a gap (neither) the instant at the offset before the change.
  return lateHolds ? late : early;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Local days (days since 1970-01-01 of a wall-clock date) whose text dateInZone caches. */
const FIRST_CACHED_DAY = Date.UTC(100, 0, 1) / DAY_MS;
const LAST_CACHED_DAY = Date.UTC(9999, 11, 31) / DAY_MS;
const MAX_CACHED_DAYS = 100_000;
const dayTexts = new Map<number, string>();

/** YYYY-MM-DD of an instant in a zone. */
export function dateInZone(epochMs: number, timeZone: string): string {
  // A row's date is asked for every row: its text is made once per day, not once per row.
  const local = asLocal(epochMs, timeZone);
  const day = local === undefined ? NaN : Math.floor(local / DAY_MS);
  if (day >= FIRST_CACHED_DAY && day <= LAST_CACHED_DAY) {
    let text = dayTexts.get(day);
    if (text === undefined) {
      if (dayTexts.size >= MAX_CACHED_DAYS) dayTexts.clear();
      text = new Date(day * DAY_MS).toISOString().slice(0, 10);
      dayTexts.set(day, text);
    }
    return text;
  }
  if (isUtc(timeZone)) return new Date(epochMs).toISOString().slice(0, 10);
  const w = wallClock(epochMs, timeZone);
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}`;
}

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  // Date.UTC reads years 0-99 as 1900-1999: the same calendar here, so both agree.
  const year = y < 100 ? 1900 + y : y;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return d <= (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!);
}

/** {@link parseIsoTimestamp} by its regular expression: every form it accepts. */
export function parseIsoTimestampByPattern(text: string, timeZone: string): number | undefined {
  const m = ISO.exec(text.trim());
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = m[4] === undefined ? 0 : Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return undefined;
  const zone = m[8];
  if (!zone) return zonedToEpoch(y, mo, d, h, mi, s, ms, timeZone);
  const utc = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  if (zone === 'Z' || zone === 'UTC') return utc;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return utc - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
}

/** Digit at position i, or -1. */
function digitAt(text: string, i: number): number {
  const d = text.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/**
 * The form nearly every row has, "YYYY-MM-DD HH:MM:SS" (or with T, then nothing, Z or " UTC"),
 * read without the regular expression; null when the text has another form.
 */
function parseCommonIso(text: string, timeZone: string): number | undefined | null {
  const n = text.length;
  if (n !== 19 && n !== 20 && n !== 23) return null;
  const separator = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    (separator !== 32 && separator !== 84) ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  )
    return null;
  const zoned = n === 20 ? text.charCodeAt(19) === 90 : n === 23 ? text.endsWith(' UTC') : false;
  if (n !== 19 && !zoned) return null;
  let y = 0;
  for (let i = 0; i < 4; i++) {
    const d = digitAt(text, i);
    if (d < 0) return null;
    y = y * 10 + d;
  }
  const two = (i: number) => {
    const a = digitAt(text, i);
    const b = digitAt(text, i + 1);
    return a < 0 || b < 0 ? -1 : a * 10 + b;
  };
  const mo = two(5);
  const d = two(8);
  const h = two(11);
  const mi = two(14);
  const sec = two(17);
  if (mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0) return null;
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || sec > 59) return undefined;
  return zoned
    ? Date.UTC(y, mo - 1, d, h, mi, sec, 0)
    : zonedToEpoch(y, mo, d, h, mi, sec, 0, timeZone);
}

/**
 * Parses an ISO-8601 timestamp ("2025-03-30T16:14:26", "2022-10-01 00:00:00 UTC",
 * "2025-03-30T16:14:26+02:00", "2025-03-30"). Naive values are read in `timeZone`.
 * Returns epoch ms, or undefined when the text is not a valid timestamp.
 */
export function parseIsoTimestamp(text: string, timeZone: string): number | undefined {
  const common = parseCommonIso(text, timeZone);
  return common === null ? parseIsoTimestampByPattern(text, timeZone) : common;
}

const US = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

/** Parses "M/D/YYYY H:MM[:SS]" (the UCI Online Retail form) in `timeZone`. */
export function parseUsTimestamp(text: string, timeZone: string): number | undefined {
  const m = US.exec(text.trim());
  if (!m) return undefined;
  const [mo, d, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  if (!validDate(y, mo, d) || h > 23 || mi > 59 || s > 59) return undefined;
  return zonedToEpoch(y, mo, d, h, mi, s, 0, timeZone);
}

/** The epoch-seconds timestamps of click logs (Taobao's time_stamp), as epoch ms. */
export function parseEpochSeconds(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d{1,12}(\.\d{1,6})?$/.test(t)) return undefined;
  const ms = Math.round(Number(t) * 1000);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Calendar arithmetic on YYYY-MM-DD strings (no zone: dates are labels here). */
export function addDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** First instant of a wall-clock date in a zone. */
export function startOfDate(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return zonedToEpoch(y, m, d, 0, 0, 0, 0, timeZone);
}

export type Period = 'hour' | 'day' | 'week' | 'month' | 'year';

/**
 * The period of `period` holding an instant, in a zone: its first day (YYYY-MM-DD; for an hour,
 * the day it is in), and its first and next instants. Weeks are ISO weeks: they start on Monday.
 */
export function periodOf(
  epochMs: number,
  period: Period,
  timeZone: string,
): { date: string; start: number; end: number } {
  const w = wallClock(epochMs, timeZone);
  const day = `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}`;
  switch (period) {
    case 'hour': {
      // From the instant itself: right in a DST overlap, where a wall-clock hour occurs twice.
      const start = epochMs - (w.mi * 60 + w.s) * 1000 - (((epochMs % 1000) + 1000) % 1000);
      return { date: day, start, end: start + 3_600_000 };
    }
    case 'day':
      return {
        date: day,
        start: startOfDate(day, timeZone),
        end: startOfDate(addDays(day, 1), timeZone),
      };
    case 'week': {
      const weekday = (new Date(Date.UTC(w.y, w.mo - 1, w.d)).getUTCDay() + 6) % 7; // Monday = 0
      const monday = addDays(day, -weekday);
      return {
        date: monday,
        start: startOfDate(monday, timeZone),
        end: startOfDate(addDays(monday, 7), timeZone),
      };
    }
    case 'month': {
      const first = `${pad(w.y, 4)}-${pad(w.mo)}-01`;
      const next = w.mo === 12 ? `${pad(w.y + 1, 4)}-01-01` : `${pad(w.y, 4)}-${pad(w.mo + 1)}-01`;
      return { date: first, start: startOfDate(first, timeZone), end: startOfDate(next, timeZone) };
    }
    case 'year': {
      const first = `${pad(w.y, 4)}-01-01`;
      const next = `${pad(w.y + 1, 4)}-01-01`;
      return { date: first, start: startOfDate(first, timeZone), end: startOfDate(next, timeZone) };
    }
  }
}

/**
 * ISO-8601 text of an instant as wall-clock time in a zone with its offset
 * ("2017-05-08T00:00:00+08:00"): readable, and unambiguous in a DST overlap.
 */
export function zonedIso(epochMs: number, timeZone: string): string {
  const w = wallClock(epochMs, timeZone);
  const offsetMin = Math.round(
    (Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(epochMs / 1000) * 1000) / 60_000,
  );
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${pad(w.y, 4)}-${pad(w.mo)}-${pad(w.d)}T${pad(w.h)}:${pad(w.mi)}:${pad(w.s)}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
