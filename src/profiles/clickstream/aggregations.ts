/**
 * clickstream's configurable aggregations: each names a KPI, the columns to group by, a period
 * (hour, day, week, month) and the time zone whose wall clock delimits the periods. They are
 * declared in a config file, JSON or INI (CARTPIPE_AGGREGATIONS_FILE; default
 * config/clickstream.aggregations.json in the project), and a run may replace the whole list with
 * its manifest's `options.aggregations` (same shape as the JSON file's `aggregations`).
 *
 * JSON:  { "aggregations": [ { "name": "daily_by_category", "groupBy": ["product_category"],
 *                              "period": "day", "timeZone": "Asia/Shanghai" } ] }
 * INI:   [daily_by_category]
 *        group_by = product_category
 *        period = day
 *        time_zone = Asia/Shanghai
 *
 * Keys may be written camelCase or snake_case in either; groupBy may be a list or a
 * comma-separated string; a left-out timeZone means the pipeline's (CARTPIPE_TIME_ZONE).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseIni } from 'ini';
import { z } from 'zod';
import { ConfigError, ManifestError } from '../../errors.js';

export const AGGREGATION_PERIODS = ['hour', 'day', 'week', 'month'] as const;
export type AggregationPeriod = (typeof AGGREGATION_PERIODS)[number];
/** Columns an aggregation may group by. */
export const GROUPABLE_COLUMNS = ['user_id', 'product_category', 'product_name'] as const;

export interface Aggregation {
  name: string;
  groupBy: readonly string[];
  period: AggregationPeriod;
  /** Undefined: the pipeline's zone. */
  timeZone?: string;
}

const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const groupBy = z
  .union([z.array(z.string().trim()), z.string()])
  .transform((v) =>
    (typeof v === 'string' ? v.split(',') : v).map((c) => c.trim()).filter((c) => c !== ''),
  )
  .pipe(
    z
      .array(z.enum(GROUPABLE_COLUMNS, { message: `one of ${GROUPABLE_COLUMNS.join(', ')}` }))
      .refine((cols) => new Set(cols).size === cols.length, 'lists a column twice'),
  );

const aggregationSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _, starting with a letter'),
  groupBy: groupBy.default([]),
  period: z.enum(AGGREGATION_PERIODS),
  timeZone: z
    .string()
    .trim()
    .refine(isTimeZone, 'not an IANA time zone (e.g. UTC, Asia/Shanghai)')
    .optional(),
});

const listSchema = z
  .array(aggregationSchema)
  .min(1, 'declares no aggregation')
  .refine(
    (list) => new Set(list.map((a) => a.name)).size === list.length,
    'two aggregations share a name',
  );

/** snake_case keys (group_by, time_zone) to the camelCase the schema uses. */
function camelKeys(value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      v,
    ]),
  );
}

/**
 * Checks a list of aggregation specs.
 * @param where names the source in errors ("config/x.json", "manifest options").
 * @returns the specs, or the problems as text.
 */
export function checkAggregations(
  value: unknown,
  where: string,
): { ok: true; aggregations: Aggregation[] } | { ok: false; problem: string } {
  const list = Array.isArray(value) ? value.map(camelKeys) : value;
  const parsed = listSchema.safeParse(list);
  if (parsed.success) return { ok: true, aggregations: parsed.data };
  const problems = parsed.error.issues.map((i) => {
    const at = i.path.length ? `aggregations.${i.path.join('.')}` : 'aggregations';
    return `${at}: ${i.message}`;
  });
  return { ok: false, problem: `${where}: ${problems.join('; ')}` };
}

/** The aggregation specs of a config file's text (INI by extension .ini, else JSON). */
export function parseAggregationsFile(text: string, file: string): Aggregation[] {
  let list: unknown;
  if (extname(file).toLowerCase() === '.ini') {
    list = Object.entries(parseIni(text)).map(([name, section]) => ({
      name,
      ...(section as Record<string, unknown>),
    }));
  } else {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new ConfigError(`${file} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
    list = (json as { aggregations?: unknown } | null)?.aggregations;
  }
  const checked = checkAggregations(list, file);
  if (!checked.ok) throw new ConfigError(checked.problem);
  return checked.aggregations;
}

/** The project root: the nearest folder above this module holding package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** The shipped default spec: config/clickstream.aggregations.json in the project. */
export function defaultAggregationsFile(): string {
  return join(projectRoot(), 'config', 'clickstream.aggregations.json');
}

const loaded = new Map<string, Aggregation[]>();

/**
 * The aggregations of a config file (default: the shipped one), read once per process.
 * @throws ConfigError naming the file when it is missing or malformed.
 */
export function loadAggregations(file: string = defaultAggregationsFile()): Aggregation[] {
  const path = resolve(file);
  let aggregations = loaded.get(path);
  if (!aggregations) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (cause) {
      throw new ConfigError(
        `cannot read the clickstream aggregations file ${path} (CARTPIPE_AGGREGATIONS_FILE): ${(cause as Error).message}`,
        { cause },
      );
    }
    aggregations = parseAggregationsFile(text, path);
    loaded.set(path, aggregations);
  }
  return aggregations;
}

/**
 * The aggregations of a run: the manifest's `options.aggregations` when given, else the file's.
 * @throws ManifestError `options_invalid` for malformed options.
 */
export function aggregationsFor(
  options: Readonly<Record<string, unknown>>,
  file?: string,
): Aggregation[] {
  if (options.aggregations === undefined) return loadAggregations(file);
  const checked = checkAggregations(options.aggregations, 'manifest options');
  if (!checked.ok) throw new ManifestError('options_invalid', checked.problem);
  return checked.aggregations;
}
