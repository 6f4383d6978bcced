/**
 * DuckDB for the independent references, kept apart from the tests' jest helpers so that the
 * benchmark (plain node) can run the same references.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Value } from '../../src/formats/parquet.js';

export async function duckdb(): Promise<DuckDBConnection> {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  // One thread keeps file order in row_number() over read_csv.
  await db.run('set threads = 1');
  return db;
}

/** Rows of a query as plain JS values (BIGINT -> number, DECIMAL -> number). */
export async function query(db: DuckDBConnection, sql: string): Promise<Record<string, Value>[]> {
  const reader = await db.runAndReadAll(sql);
  return (reader.getRowObjectsJS() as Record<string, unknown>[]).map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : (v as Value)]),
    ),
  );
}
