/**
 * The shape every input reader yields: batches of raw records as text, mapped to the entity's
 * columns by header name. Raw values stay text (or null for an absent value) so that nothing is
 * lost before validation decides what a value means.
 */

/** A row-level read problem: the row is kept and validate rejects it with this code. */
export interface RowProblem {
  code: string;
  message: string;
}

export interface RecordBatch {
  /** Column name -> value per row (null = empty/absent). All columns have `length` entries. */
  columns: Record<string, (string | null)[]>;
  /** 1-based data row number (header excluded) of each row in its source file. */
  sourceRows: number[];
  /** Problems by row index within this batch (ragged rows, undecodable fields). */
  problems: Map<number, RowProblem>;
  length: number;
}

export interface ReadOptions {
  /** File name used in errors. */
  file: string;
  /** Columns the entity declares, in output order; other source columns are ignored. */
  columns: readonly string[];
  /** Columns the header must have (default: all of `columns`); absent optional ones read as null. */
  requiredColumns?: readonly string[];
  /** Source column name -> entity column name (for sources that rename, e.g. clickstream). */
  renames?: Readonly<Record<string, string>>;
  batchSize?: number;
  delimiter?: string;
  encoding?: 'utf-8' | 'latin1';
  sheet?: string;
  /** Longest accepted field, in characters (CARTPIPE_MAX_FIELD_CHARS): longer rejects the row. */
  maxFieldLength?: number;
  /**
   * Longest accepted row, record or line, in characters (CARTPIPE_MAX_ROW_CHARS). Where rows can
   * be told apart (XLSX) a longer one is rejected; where it cannot end (a CSV quote never closed,
   * a JSON record or NDJSON line running on) the file stops with `row_too_long`, which also
   * bounds the memory one row can take.
   */
  maxRowLength?: number;
  /** XLSX: how long a workbook may yield nothing once all its bytes have arrived (damaged). */
  stallMs?: number;
}

/** Defaults of the bounds when the caller gives none (the config's defaults). */
export const DEFAULT_MAX_FIELD_LENGTH = 100_000;
export const DEFAULT_MAX_ROW_LENGTH = 1_000_000;
export const DEFAULT_XLSX_STALL_MS = 10_000;

export class RecordBatchBuilder {
  private columns: (string | null)[][] = [];
  private sourceRows: number[] = [];
  private problems = new Map<number, RowProblem>();
  constructor(private readonly names: readonly string[]) {
    this.reset();
  }
  get length(): number {
    return this.sourceRows.length;
  }
  /** Appends one row; `values[c]` is the value of declared column c. */
  push(sourceRow: number, values: (string | null)[], problem?: RowProblem): void {
    const index = this.sourceRows.length;
    this.sourceRows.push(sourceRow);
    for (let c = 0; c < this.names.length; c++) this.columns[c]!.push(values[c] ?? null);
    if (problem) this.problems.set(index, problem);
  }
  /**
   * Appends one row straight from a parsed record, with no array in between: declared column c
   * takes `fields[indexOf[c]]`; an empty or absent field is null.
   */
  pushFields(
    sourceRow: number,
    fields: readonly string[],
    indexOf: readonly number[],
    problem?: RowProblem,
  ): void {
    const index = this.sourceRows.length;
    this.sourceRows.push(sourceRow);
    for (let c = 0; c < indexOf.length; c++) {
      const i = indexOf[c]!;
      const v = i >= 0 ? fields[i] : undefined;
      this.columns[c]!.push(v === undefined || v === '' ? null : v);
    }
    if (problem) this.problems.set(index, problem);
  }
  take(): RecordBatch {
    const columns: Record<string, (string | null)[]> = {};
    for (let c = 0; c < this.names.length; c++) columns[this.names[c]!] = this.columns[c]!;
    const batch: RecordBatch = {
      columns,
      sourceRows: this.sourceRows,
      problems: this.problems,
      length: this.sourceRows.length,
    };
    this.reset();
    return batch;
  }
  private reset(): void {
    this.columns = this.names.map(() => []);
    this.sourceRows = [];
    this.problems = new Map();
  }
}
