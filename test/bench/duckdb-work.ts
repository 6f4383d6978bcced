/**
 * The reference: DuckDB doing the pipeline's work on the same files, step for step, so the
 * benchmark can compare throughput, memory and Parquet size, and check the KPIs.
 *   upload:      CSV -> raw Parquet (text columns + source file), malformed lines kept aside
 *   validate:    raw -> validated (typed, date-partitioned), rejected (reason codes), held
 *   compute-kpi: validated -> daily and category_daily KPIs, one Parquet per date
 * The thelook rules are restated here from DESIGN.md, apart from src/profiles, so the KPI check
 * compares two independent implementations.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';

type RefType = 'int' | 'float' | 'string' | 'timestamp';
interface RefColumn {
  name: string;
  type: RefType;
  required?: boolean;
  min?: number;
  enum?: readonly string[];
}
interface RefEntity {
  name: 'products' | 'orders' | 'order_items';
  /** Columns in file order. */
  columns: readonly RefColumn[];
  key: string;
}

const STATUSES = ['processing', 'shipped', 'delivered', 'complete', 'cancelled', 'returned'];
const int = (name: string, required = true): RefColumn => ({ name, type: 'int', required, min: 0 });
const ts = (name: string, required = false): RefColumn => ({ name, type: 'timestamp', required });
const text = (name: string, required = false): RefColumn => ({ name, type: 'string', required });
const status: RefColumn = { name: 'status', type: 'string', required: true, enum: STATUSES };

export const REFERENCE_ENTITIES: readonly RefEntity[] = [
  {
    name: 'products',
    key: 'id',
    columns: [
      int('id'),
      text('sku'),
      { name: 'cost', type: 'float', min: 0 },
      text('category', true),
      text('name'),
      text('brand'),
      { name: 'retail_price', type: 'float', min: 0 },
      text('department'),
    ],
  },
  {
    name: 'orders',
    key: 'order_id',
    columns: [
      int('order_id'),
      int('user_id'),
      status,
      ts('created_at', true),
      ts('returned_at'),
      ts('shipped_at'),
      ts('delivered_at'),
      { name: 'num_of_item', type: 'int', min: 0 },
    ],
  },
  {
    name: 'order_items',
    key: 'id',
    columns: [
      int('id'),
      int('order_id'),
      int('user_id', false),
      int('product_id'),
      status,
      ts('created_at'),
      ts('shipped_at'),
      ts('delivered_at'),
      ts('returned_at'),
      { name: 'sale_price', type: 'float', required: true, min: 0 },
    ],
  },
];

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
const lit = (value: string) => `'${value.replace(/'/g, "''")}'`;

export type Step = 'upload' | 'validate' | 'compute-kpi';

const STEP_OUTPUTS: Record<Step, string[]> = {
  upload: ['raw'],
  validate: ['validated', 'rejected', 'held'],
  'compute-kpi': ['kpis'],
};

/** Empties a step's output folders under `dir` and creates those DuckDB expects to exist. */
export function resetStepOutputs(dir: string, step: Step): void {
  for (const d of STEP_OUTPUTS[step]) rmSync(join(dir, d), { recursive: true, force: true });
  const folders = ['raw', 'validated/products', 'held/order_items', 'kpis'];
  for (const e of REFERENCE_ENTITIES) folders.push(`rejected/${e.name}`);
  for (const d of folders) mkdirSync(join(dir, d), { recursive: true });
}

export interface StepResult {
  /** Rows the step read (the throughput denominator). */
  rowsIn: number;
  /** Files written by the step, relative to the work folder's outputs. */
  outputDirs: string[];
  counts?: Record<string, EntityCountsRef>;
}

export interface EntityCountsRef {
  rowsIn: number;
  valid: number;
  rejected: number;
  duplicatesDropped: number;
  held: number;
  rejectsByReason: Record<string, number>;
}

async function scalar(connection: DuckDBConnection, sql: string): Promise<number> {
  const reader = await connection.runAndReadAll(sql);
  return Number(reader.getRows()[0]![0]);
}

/** CSV -> raw Parquet with every value as text; malformed lines go to <entity>-rejects.parquet. */
export async function duckUpload(
  connection: DuckDBConnection,
  dir: string,
  files: Record<string, string[]>,
): Promise<StepResult> {
  let rowsIn = 0;
  for (const entity of REFERENCE_ENTITIES) {
    const list = files[entity.name] ?? [];
    const columns = entity.columns.map((c) => `${lit(c.name)}: 'VARCHAR'`).join(', ');
    await connection.run(`
      COPY (
        SELECT * EXCLUDE (filename), filename AS _source_file
        FROM read_csv([${list.map(lit).join(', ')}], header = true, auto_detect = false,
          delim = ',', quote = '"', escape = '"', columns = {${columns}}, filename = true,
          store_rejects = true, ignore_errors = true,
          rejects_table = 'rejects_${entity.name}', rejects_scan = 'scans_${entity.name}')
      ) TO ${lit(`${dir}/raw/${entity.name}.parquet`)} (FORMAT parquet, COMPRESSION snappy)`);
    await connection.run(`
      COPY (
        SELECT s.file_path AS _source_file, r.line AS _source_row, any_value(r.csv_line) AS _line,
               string_agg(r.error_type, ',') AS _error
        FROM rejects_${entity.name} r JOIN scans_${entity.name} s USING (scan_id, file_id)
        GROUP BY ALL
      ) TO ${lit(`${dir}/raw/${entity.name}-rejects.parquet`)} (FORMAT parquet)`);
    rowsIn += await scalar(
      connection,
      `SELECT (SELECT count(*) FROM read_parquet(${lit(`${dir}/raw/${entity.name}.parquet`)}))
            + (SELECT count(*) FROM read_parquet(${lit(`${dir}/raw/${entity.name}-rejects.parquet`)}))`,
    );
  }
  return { rowsIn, outputDirs: ['raw'] };
}

function typedExpression(c: RefColumn): string {
  const t = `nullif(trim(${q(`r_${c.name}`)}), '')`;
  switch (c.type) {
    case 'int':
      return `TRY_CAST(${t} AS BIGINT)`;
    case 'float':
      return `TRY_CAST(${t} AS DOUBLE)`;
    case 'timestamp':
      return `TRY_CAST(${t} AS TIMESTAMP)`;
    case 'string':
      return c.enum
        ? `lower(${t})`
        : `CASE WHEN ${t} IS NULL THEN NULL ELSE ${q(`r_${c.name}`)} END`;
  }
}

/** The reason code a column gives its row, or NULL: the same rules, in the same order. */
function reasonExpression(c: RefColumn): string {
  const t = `nullif(trim(${q(`r_${c.name}`)}), '')`;
  const typed = typedExpression(c);
  const arms = [`WHEN ${t} IS NULL THEN ${c.required ? lit(`missing_value:${c.name}`) : 'NULL'}`];
  if (c.type === 'int') {
    arms.push(
      `WHEN NOT regexp_full_match(${t}, '[+-]?\\d+') THEN ${lit(`invalid_integer:${c.name}`)}`,
      `WHEN ${typed} IS NULL OR abs(${typed}) > 9007199254740991 THEN ${lit(`integer_out_of_range:${c.name}`)}`,
    );
  }
  if (c.type === 'float') {
    arms.push(
      `WHEN NOT regexp_full_match(${t}, '[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?') OR ${typed} IS NULL OR isinf(${typed}) THEN ${lit(`invalid_number:${c.name}`)}`,
    );
  }
  if (c.type === 'timestamp') {
    arms.push(`WHEN ${typed} IS NULL THEN ${lit(`invalid_timestamp:${c.name}`)}`);
  }
  if (c.enum) {
    arms.push(
      `WHEN ${typed} NOT IN (${c.enum.map(lit).join(', ')}) THEN ${lit(`not_in_enum:${c.name}`)}`,
    );
  }
  if (c.min !== undefined) {
    arms.push(`WHEN ${typed} < ${c.min} THEN ${lit(`below_minimum:${c.name}`)}`);
  }
  return `CASE ${arms.join(' ')} END`;
}

/**
 * raw -> validated/rejected/held with the thelook rules: types, required values, enums, minimums,
 * exact duplicates dropped, conflicting duplicate keys rejected (first occurrence wins), items
 * held when their order or product is not valid. Valid orders and items are partitioned by the
 * order date (items take their order's date).
 */
export async function duckValidate(
  connection: DuckDBConnection,
  dir: string,
  run: { runId: string; loadedAt: string },
): Promise<StepResult> {
  const counts: Record<string, EntityCountsRef> = {};
  let rowsIn = 0;
  for (const entity of REFERENCE_ENTITIES) {
    const e = entity.name;
    const raw = entity.columns.map((c) => `${q(c.name)} AS ${q(`r_${c.name}`)}`).join(', ');
    const typed = entity.columns.map((c) => `${typedExpression(c)} AS ${q(c.name)}`).join(',\n');
    const reasons = entity.columns.map(reasonExpression).join(',\n');
    const rawNames = entity.columns.map((c) => q(`r_${c.name}`)).join(', ');
    await connection.run(`
      CREATE OR REPLACE TEMP TABLE ${e}_checked AS
      SELECT file_row_number AS _seq, _source_file, file_row_number + 1 AS _source_row,
        ${typed},
        list_filter([${reasons}], r -> r IS NOT NULL) AS _reasons,
        hash(${rawNames}) AS _fp,
        ${rawNames}
      FROM (SELECT ${raw}, _source_file, file_row_number
            FROM read_parquet(${lit(`${dir}/raw/${e}.parquet`)}, file_row_number = true))`);
    await connection.run(`
      CREATE OR REPLACE TEMP TABLE ${e}_c AS
      SELECT *,
        CASE WHEN len(_reasons) > 0 THEN 'rejected'
             WHEN row_number() OVER w = 1 THEN 'valid'
             WHEN _fp = first_value(_fp) OVER w THEN 'dropped'
             ELSE 'duplicate_key' END AS _class
      FROM ${e}_checked
      WINDOW w AS (PARTITION BY len(_reasons) = 0, ${q(entity.key)} ORDER BY _seq)`);
    if (e === 'order_items') {
      // Parents must be valid; an item takes its order's date.
      await connection.run(`
        CREATE OR REPLACE TEMP TABLE order_items_c AS
        SELECT c.* REPLACE (
            CASE WHEN c._class = 'valid' AND (vo.oid IS NULL OR vp.pid IS NULL) THEN 'held'
                 ELSE c._class END AS _class,
            CASE WHEN c._class = 'valid' AND (vo.oid IS NULL OR vp.pid IS NULL)
                 THEN list_filter([
                   CASE WHEN vo.oid IS NULL THEN 'missing_parent:orders' END,
                   CASE WHEN vp.pid IS NULL THEN 'missing_parent:products' END], r -> r IS NOT NULL)
                 ELSE c._reasons END AS _reasons),
          vo.odate AS date
        FROM order_items_c c
        LEFT JOIN (SELECT order_id AS oid, strftime(created_at, '%Y-%m-%d') AS odate
                   FROM orders_c WHERE _class = 'valid') vo ON vo.oid = c.order_id
        LEFT JOIN (SELECT id AS pid FROM products_c WHERE _class = 'valid') vp ON vp.pid = c.product_id`);
    }
    const lineage = `${lit(run.runId)} AS _run_id, TIMESTAMP ${lit(run.loadedAt)} AS _loaded_at, _source_file, _source_row`;
    const values = entity.columns.map((c) => q(c.name)).join(', ');
    if (e === 'products') {
      await connection.run(`
        COPY (SELECT ${values}, ${lineage} FROM products_c WHERE _class = 'valid')
        TO ${lit(`${dir}/validated/products/part-0.parquet`)} (FORMAT parquet, COMPRESSION snappy)`);
    } else {
      const dated =
        e === 'orders'
          ? `SELECT ${values}, ${lineage}, strftime(created_at, '%Y-%m-%d') AS date
             FROM orders_c WHERE _class = 'valid'`
          : `SELECT ${values}, ${lineage}, date FROM order_items_c WHERE _class = 'valid'`;
      await connection.run(`
        COPY (${dated}) TO ${lit(`${dir}/validated/${e}`)}
        (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (date))`);
    }
    if (e === 'order_items') {
      await connection.run(`
        COPY (SELECT ${values}, ${lineage}, array_to_string(_reasons, ',') AS _reasons
              FROM order_items_c WHERE _class = 'held')
        TO ${lit(`${dir}/held/${e}/part-0.parquet`)} (FORMAT parquet, COMPRESSION snappy)`);
    }
    const rawAsText = entity.columns.map((c) => `${q(`r_${c.name}`)} AS ${q(c.name)}`).join(', ');
    const nulls = entity.columns.map((c) => `NULL::VARCHAR AS ${q(c.name)}`).join(', ');
    await connection.run(`
      COPY (
        SELECT ${rawAsText}, _source_file, _source_row, NULL::VARCHAR AS _problem,
          CASE WHEN _class = 'duplicate_key' THEN 'duplicate_key' ELSE array_to_string(_reasons, ',') END AS _reasons,
          ${lit(run.runId)} AS _run_id
        FROM ${e}_c WHERE _class IN ('rejected', 'duplicate_key')
        UNION ALL
        SELECT ${nulls}, _source_file, _source_row, 'ragged_row', 'ragged_row', ${lit(run.runId)}
        FROM read_parquet(${lit(`${dir}/raw/${e}-rejects.parquet`)})
      ) TO ${lit(`${dir}/rejected/${e}/part-0.parquet`)} (FORMAT parquet, COMPRESSION snappy)`);

    const classes = await connection.runAndReadAll(
      `SELECT _class, count(*) FROM ${e}_c GROUP BY ALL`,
    );
    const byClass = Object.fromEntries(classes.getRows().map((r) => [String(r[0]), Number(r[1])]));
    const ragged = await scalar(
      connection,
      `SELECT count(*) FROM read_parquet(${lit(`${dir}/raw/${e}-rejects.parquet`)})`,
    );
    const reasonRows = await connection.runAndReadAll(`
      SELECT reason, count(*) FROM (
        SELECT unnest(CASE WHEN _class = 'duplicate_key' THEN ['duplicate_key'] ELSE _reasons END) AS reason
        FROM ${e}_c WHERE _class IN ('rejected', 'duplicate_key')) GROUP BY ALL`);
    const rejectsByReason: Record<string, number> = Object.fromEntries(
      reasonRows.getRows().map((r) => [String(r[0]), Number(r[1])]),
    );
    if (ragged > 0) rejectsByReason.ragged_row = ragged;
    const total = Object.values(byClass).reduce((a, b) => a + b, 0) + ragged;
    counts[e] = {
      rowsIn: total,
      valid: byClass.valid ?? 0,
      rejected: (byClass.rejected ?? 0) + (byClass.duplicate_key ?? 0) + ragged,
      duplicatesDropped: byClass.dropped ?? 0,
      held: byClass.held ?? 0,
      rejectsByReason,
    };
    rowsIn += total;
  }
  return { rowsIn, outputDirs: ['validated', 'rejected', 'held'], counts };
}

/**
 * validated -> KPIs as DESIGN.md defines them, from every validated row (latest version per
 * key is trivially the only one here: one run). Money is summed as DECIMAL, so exact to the cent.
 */
export async function duckComputeKpi(
  connection: DuckDBConnection,
  dir: string,
): Promise<StepResult> {
  const v = (entity: string, glob: string) => lit(`${dir}/validated/${entity}/${glob}`);
  await connection.run(`
    CREATE OR REPLACE TEMP TABLE o AS
      SELECT order_id, user_id, status, CAST(date AS VARCHAR) AS order_date
      FROM read_parquet(${v('orders', '*/*.parquet')}, hive_partitioning = true);
    CREATE OR REPLACE TEMP TABLE i AS
      SELECT order_id, product_id, status, CAST(sale_price AS DECIMAL(18, 2)) AS price,
             CAST(date AS VARCHAR) AS order_date
      FROM read_parquet(${v('order_items', '*/*.parquet')}, hive_partitioning = true);
    CREATE OR REPLACE TEMP TABLE p AS
      SELECT id, category FROM read_parquet(${v('products', '*.parquet')});
    CREATE OR REPLACE TEMP TABLE ij AS
      SELECT i.*, coalesce(p.category, 'unknown') AS category
      FROM i SEMI JOIN o ON i.order_id = o.order_id AND i.order_date = o.order_date
      LEFT JOIN p ON p.id = i.product_id;`);
  await connection.run(`
    COPY (
      SELECT d.order_date, d.total_orders,
        CAST(coalesce(x.revenue, 0) AS DOUBLE) AS total_revenue,
        CAST(coalesce(x.net, 0) AS DOUBLE) AS net_revenue,
        coalesce(x.items, 0) AS total_items_sold,
        d.returned / d.total_orders AS return_rate,
        d.unique_customers
      FROM (SELECT order_date, count(DISTINCT order_id) AS total_orders,
                   CAST(count(*) FILTER (WHERE status = 'returned') AS DOUBLE) AS returned,
                   count(DISTINCT user_id) AS unique_customers
            FROM o GROUP BY order_date) d
      LEFT JOIN (SELECT order_date, sum(price) AS revenue,
                        sum(price) FILTER (WHERE status <> 'returned') AS net, count(*) AS items
                 FROM ij GROUP BY order_date) x USING (order_date)
    ) TO ${lit(`${dir}/kpis/daily`)}
    (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (order_date), WRITE_PARTITION_COLUMNS true)`);
  await connection.run(`
    COPY (
      SELECT category, order_date,
        CAST(sum(price) AS DOUBLE) AS daily_revenue,
        CAST(coalesce(sum(price) FILTER (WHERE status <> 'returned'), 0) AS DOUBLE) AS net_revenue,
        count(DISTINCT order_id) AS orders,
        count(*) AS items,
        round(CAST(sum(price) AS DOUBLE) / count(DISTINCT order_id), 2) AS avg_order_value,
        CAST(count(DISTINCT order_id) FILTER (WHERE status = 'returned') AS DOUBLE)
          / count(DISTINCT order_id) AS avg_return_rate
      FROM ij GROUP BY category, order_date
    ) TO ${lit(`${dir}/kpis/category_daily`)}
    (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (order_date), WRITE_PARTITION_COLUMNS true)`);
  const rowsIn = await scalar(
    connection,
    'SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM i) + (SELECT count(*) FROM p)',
  );
  return { rowsIn, outputDirs: ['kpis'] };
}

/** KPI rows as plain objects (numbers as JS numbers), ordered by their key. */
export async function readKpiRows(
  connection: DuckDBConnection,
  glob: string,
  kpi: 'daily' | 'category_daily',
): Promise<Record<string, string | number | null>[]> {
  const columns =
    kpi === 'daily'
      ? 'CAST(order_date AS VARCHAR) AS order_date, total_orders::DOUBLE AS total_orders, total_revenue::DOUBLE AS total_revenue, net_revenue::DOUBLE AS net_revenue, total_items_sold::DOUBLE AS total_items_sold, return_rate::DOUBLE AS return_rate, unique_customers::DOUBLE AS unique_customers'
      : 'category, CAST(order_date AS VARCHAR) AS order_date, daily_revenue::DOUBLE AS daily_revenue, net_revenue::DOUBLE AS net_revenue, orders::DOUBLE AS orders, items::DOUBLE AS items, avg_order_value::DOUBLE AS avg_order_value, avg_return_rate::DOUBLE AS avg_return_rate';
  const order = kpi === 'daily' ? 'order_date' : 'order_date, category';
  const reader = await connection.runAndReadAll(
    `SELECT ${columns} FROM read_parquet(${lit(glob)}, hive_partitioning = false) ORDER BY ${order}`,
  );
  return reader.getRowObjectsJson() as Record<string, string | number | null>[];
}
